import type { ThingType, ThingTypeCreated } from '../../registry/thing-types.js';
import { cliActor, withRegistry } from '../open-registry.js';
import { collect } from '../option-values.js';
import type { CommandModule } from '../program.js';

interface CreateOptions {
  description?: string;
  searchableAttr?: string[];
}

/** `station thing-type create|list|deprecate`. */
export const thingTypeCommands: CommandModule = {
  register(program, context) {
    const thingType = program
      .command('thing-type')
      .description('thing types (a thing may then carry up to 50 attributes)');

    thingType
      .command('create <name>')
      .description('create a thing type (an identical one already there counts as success)')
      .option('--description <text>', 'what the type is')
      .option('--searchable-attr <name>', 'a searchable attribute name; up to 3', collect)
      .action(async (name: string, options: CreateOptions) => {
        const cli = context();
        const result = await withRegistry(cli, (registry) =>
          registry.transaction(cliActor(), (tx) =>
            registry.thingTypes.create(tx, {
              name,
              description: options.description,
              searchableAttributes: options.searchableAttr,
            }),
          ),
        );
        cli.print(result, (created: ThingTypeCreated) =>
          created.created
            ? `created thing type ${name}`
            : `thing type ${name} already exists with this configuration`,
        );
      });

    thingType
      .command('list')
      .description('list thing types')
      .action(async () => {
        const cli = context();
        const types = await withRegistry(cli, (registry) => registry.thingTypes.list());
        cli.print(types, formatTypes);
      });

    thingType
      .command('deprecate <name>')
      .description('stop new things from taking this type (--undo allows them again)')
      .option('--undo', 'make the type usable again')
      .action(async (name: string, options: { undo?: boolean }) => {
        const cli = context();
        const result = await withRegistry(cli, (registry) =>
          registry.transaction(cliActor(), (tx) =>
            registry.thingTypes.deprecate(tx, name, options.undo === true),
          ),
        );
        cli.print(
          result,
          (type: ThingType) => `thing type ${type.name} is ${type.deprecated ? 'deprecated' : 'usable'}`,
        );
      });
  },
};

function formatTypes(types: ThingType[]): string {
  if (types.length === 0) return 'no thing types';
  const width = Math.max(...types.map((type) => type.name.length));
  return types
    .map((type) =>
      [
        type.name.padEnd(width),
        type.deprecated ? 'deprecated' : 'usable    ',
        type.searchableAttributes.length > 0 ? `searchable: ${type.searchableAttributes.join(',')}` : '',
        type.description ?? '',
      ]
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
