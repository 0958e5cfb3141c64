import type {
  MembershipChange,
  MembershipRemoval,
  ThingGroup,
  ThingGroupCreated,
} from '../../registry/thing-groups.js';
import { cliActor, withRegistry } from '../open-registry.js';
import type { CommandModule } from '../program.js';

interface CreateOptions {
  parent?: string;
  description?: string;
}

/** `station thing-group create|add-thing|remove-thing|list`. */
export const thingGroupCommands: CommandModule = {
  register(program, context) {
    const group = program.command('thing-group').description('static thing groups (nested at most 7 deep)');

    group
      .command('create <name>')
      .description(
        'create a group, optionally under a parent (an identical one already there counts as success)',
      )
      .option('--parent <group>', 'the parent group (fixed once set)')
      .option('--description <text>', 'what the group is')
      .action(async (name: string, options: CreateOptions) => {
        const cli = context();
        const result = await withRegistry(cli, (registry) =>
          registry.transaction(cliActor(), (tx) =>
            registry.thingGroups.create(tx, {
              name,
              parentName: options.parent,
              description: options.description,
            }),
          ),
        );
        cli.print(result, (created: ThingGroupCreated) =>
          created.created
            ? `created thing group ${name} (depth ${created.thingGroup.depth})`
            : `thing group ${name} already exists with this configuration`,
        );
      });

    group
      .command('add-thing <group> <thing>')
      .description('put a thing in a group (at most 10 groups per thing, one per hierarchy)')
      .action(async (groupName: string, thingName: string) => {
        const cli = context();
        const result = await withRegistry(cli, (registry) =>
          registry.transaction(cliActor(), (tx) => registry.thingGroups.addThing(tx, groupName, thingName)),
        );
        cli.print(result, (change: MembershipChange) =>
          change.added
            ? `added ${change.thingName} to ${change.thingGroupName}`
            : `${change.thingName} is already in ${change.thingGroupName}`,
        );
      });

    group
      .command('remove-thing <group> <thing>')
      .description('take a thing out of a group')
      .action(async (groupName: string, thingName: string) => {
        const cli = context();
        const result = await withRegistry(cli, (registry) =>
          registry.transaction(cliActor(), async (tx) => {
            // "Not in the group" about a misspelt name would read as done.
            await registry.thingGroups.require(groupName, tx);
            await registry.things.require(thingName, tx);
            return registry.thingGroups.removeThing(tx, groupName, thingName);
          }),
        );
        cli.print(result, (change: MembershipRemoval) =>
          change.removed
            ? `removed ${change.thingName} from ${change.thingGroupName}`
            : `${change.thingName} was not in ${change.thingGroupName}; nothing changed`,
        );
      });

    group
      .command('list')
      .description('list groups as a tree, or the children of one group')
      .option('--parent <group>', 'only the direct children of this group')
      .action(async (options: { parent?: string }) => {
        const cli = context();
        const groups = await withRegistry(cli, async (registry) => {
          if (options.parent !== undefined) await registry.thingGroups.require(options.parent);
          return registry.thingGroups.list({ parentName: options.parent });
        });
        cli.print(groups, options.parent === undefined ? formatTree : formatFlat);
      });
  },
};

function formatFlat(groups: ThingGroup[]): string {
  return groups.length === 0 ? 'no thing groups' : groups.map((group) => group.name).join('\n');
}

/** Each group under its parent, indented by depth. */
function formatTree(groups: ThingGroup[]): string {
  if (groups.length === 0) return 'no thing groups';
  const children = new Map<string | null, ThingGroup[]>();
  for (const group of groups)
    children.set(group.parentName, [...(children.get(group.parentName) ?? []), group]);
  const lines: string[] = [];
  const walk = (parent: string | null): void => {
    for (const group of children.get(parent) ?? []) {
      lines.push(
        `${'  '.repeat(group.depth - 1)}${group.name}${group.description ? `  ${group.description}` : ''}`,
      );
      walk(group.name);
    }
  };
  walk(null);
  return lines.join('\n');
}
