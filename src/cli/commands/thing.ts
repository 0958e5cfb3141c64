import type { Command } from 'commander';
import { invalidInput } from '../../api/errors.js';
import type { Attributes } from '../../registry/thing-rules.js';
import type { ThingSearch } from '../../registry/thing-search.js';
import type { Thing, ThingCreated, ThingDescription, ThingPage, ThingUpdate } from '../../registry/things.js';
import { cliActor, withRegistry } from '../open-registry.js';
import { certificateIdArgument, collect, parseAttributeOptions, wholeNumber } from '../option-values.js';
import type { CommandModule } from '../program.js';

interface CreateOptions {
  type?: string;
  attr?: string[];
}
interface PageOptions {
  max?: string;
  next?: string;
}
interface SearchOptions extends PageOptions {
  prefix?: string;
  attr?: string[];
  type?: string;
  group?: string;
}
interface UpdateOptions {
  attr?: string[];
  removeAttr?: string[];
  replaceAttributes?: boolean;
  type?: string;
  removeType?: boolean;
  expectedVersion?: string;
}
interface DeleteOptions {
  expectedVersion?: string;
}

/** `station thing create|describe|list|search|update|detach|delete`. */
export const thingCommands: CommandModule = {
  register(program, context) {
    const thing = program.command('thing').description('things in the registry (AWS IoT rules)');

    thing
      .command('create <name>')
      .description('create a thing (an identical one already there counts as success)')
      .option('--type <thingType>', 'its thing type (must exist, not deprecated)')
      .option('--attr <key=value>', 'an attribute; repeat for more (3 without a type, 50 with)', collect)
      .action(async (name: string, options: CreateOptions) => {
        const cli = context();
        const result = await withRegistry(cli, (registry) =>
          registry.transaction(cliActor(), (tx) =>
            registry.things.create(tx, {
              name,
              thingTypeName: options.type,
              attributes: parseAttributeOptions(options.attr),
            }),
          ),
        );
        cli.print(result, (created: ThingCreated) =>
          created.created
            ? `created thing ${created.thing.name}`
            : `thing ${created.thing.name} already exists with this configuration`,
        );
      });

    thing
      .command('describe <name>')
      .description('show a thing: type, attributes, groups, certificates')
      .action(async (name: string) => {
        const cli = context();
        const result = await withRegistry(cli, (registry) => registry.things.require(name));
        cli.print(result, describeThing);
      });

    addPageOptions(thing.command('list').description('list things by name')).action(
      async (options: PageOptions) => {
        const cli = context();
        const page = await withRegistry(cli, (registry) => registry.things.search(pageOf(options)));
        cli.print(page, formatPage);
      },
    );

    addPageOptions(
      thing
        .command('search')
        .description('find things; filters combine (all must match)')
        .option('--prefix <namePrefix>', 'name starts with')
        .option('--attr <key=value>', 'attribute equals; repeat for more', collect)
        .option('--type <thingType>', 'of this thing type')
        .option('--group <thingGroup>', 'directly in this group'),
    ).action(async (options: SearchOptions) => {
      const cli = context();
      const search: ThingSearch = {
        ...pageOf(options),
        ...(options.prefix !== undefined && { namePrefix: options.prefix }),
        ...(options.attr !== undefined && { attributes: parseAttributeOptions(options.attr) }),
        ...(options.type !== undefined && { thingTypeName: options.type }),
        ...(options.group !== undefined && { thingGroupName: options.group }),
      };
      const page = await withRegistry(cli, async (registry) => {
        // "No things match" about a misspelt name would send the technician looking in the wrong place.
        if (options.type !== undefined) await registry.thingTypes.require(options.type);
        if (options.group !== undefined) await registry.thingGroups.require(options.group);
        return registry.things.search(search);
      });
      cli.print(page, formatPage);
    });

    thing
      .command('update <name>')
      .description('change attributes (merged unless --replace-attributes) or the thing type')
      .option('--attr <key=value>', 'set an attribute; repeat for more', collect)
      .option('--remove-attr <key>', 'remove an attribute; repeat for more', collect)
      .option('--replace-attributes', 'the given --attr become all the attributes')
      .option('--type <thingType>', 'set the thing type')
      .option('--remove-type', 'remove the thing type')
      .option('--expected-version <n>', 'refuse unless the thing is still at this version')
      .action(async (name: string, options: UpdateOptions) => {
        const cli = context();
        const result = await withRegistry(cli, (registry) =>
          registry.transaction(cliActor(), (tx) => registry.things.update(tx, name, updateOf(options))),
        );
        cli.print(result, (updated: Thing) => `updated thing ${updated.name} (version ${updated.version})`);
      });

    thing
      .command('detach <name>')
      .description('detach a certificate from a thing (refused while the certificate is ACTIVE)')
      .requiredOption('--cert <id>', 'certificate ID (SHA-256 of the DER, hex)')
      .action(async (name: string, options: { cert: string }) => {
        const cli = context();
        const certificateId = certificateIdArgument(options.cert, 'cert');
        await withRegistry(cli, (registry) =>
          registry.transaction(cliActor(), (tx) => registry.things.detachPrincipal(tx, name, certificateId)),
        );
        cli.print(
          { thingName: name, certificateId, detached: true },
          () => `detached certificate ${certificateId} from thing ${name}`,
        );
      });

    thing
      .command('delete <name>')
      .description('delete a thing (refused while certificates are attached)')
      .option('--expected-version <n>', 'refuse unless the thing is still at this version')
      .action(async (name: string, options: DeleteOptions) => {
        const cli = context();
        const expectedVersion = wholeNumber('expected-version', options.expectedVersion, 1);
        await withRegistry(cli, (registry) =>
          registry.transaction(cliActor(), (tx) => registry.things.delete(tx, name, { expectedVersion })),
        );
        cli.print({ deleted: name }, (result) => `deleted thing ${result.deleted}`);
      });
  },
};

function addPageOptions(command: Command): Command {
  return command
    .option('--max <n>', 'things per page, 1-250 (default 50)')
    .option('--next <token>', 'the token a previous page printed');
}

function pageOf(options: PageOptions): ThingSearch {
  const maxResults = wholeNumber('max', options.max, 1);
  return {
    ...(maxResults !== undefined && { maxResults }),
    ...(options.next !== undefined && { nextToken: options.next }),
  };
}

function updateOf(options: UpdateOptions): ThingUpdate {
  // Options that contradict each other are refused, not settled by a rule the technician cannot see.
  if (options.type !== undefined && options.removeType) {
    throw invalidInput('thingTypeName', '--type and --remove-type contradict each other; give one.');
  }
  if (options.replaceAttributes && options.removeAttr !== undefined) {
    throw invalidInput(
      'attributes',
      '--replace-attributes already removes every attribute not given with --attr; drop --remove-attr.',
    );
  }
  const set = parseAttributeOptions(options.attr);
  const both = (options.removeAttr ?? []).filter((key) => Object.hasOwn(set, key));
  if (both.length > 0) {
    throw invalidInput('attributes', `--attr and --remove-attr both name ${both.join(', ')}; give one.`);
  }
  const removed = Object.fromEntries((options.removeAttr ?? []).map((key) => [key, ''])); // '' removes when merging
  const touchesAttributes =
    options.attr !== undefined || options.removeAttr !== undefined || options.replaceAttributes;
  return {
    ...(touchesAttributes && {
      attributes: options.replaceAttributes ? set : { ...removed, ...set },
      merge: !options.replaceAttributes,
    }),
    ...(options.type !== undefined && { thingTypeName: options.type }),
    ...(options.removeType && { thingTypeName: null }),
    ...(options.expectedVersion !== undefined && {
      expectedVersion: wholeNumber('expected-version', options.expectedVersion, 1),
    }),
  };
}

function describeThing(thing: ThingDescription): string {
  return [
    `name:         ${thing.name}`,
    `thing type:   ${thing.thingTypeName ?? '(none)'}`,
    ...(thing.billingGroupName !== null ? [`billing group: ${thing.billingGroupName}`] : []),
    `version:      ${thing.version}`,
    `attributes:   ${formatAttributes(thing.attributes) || '(none)'}`,
    `groups:       ${thing.thingGroups.join(', ') || '(none)'}`,
    `certificates: ${thing.certificateIds.join(', ') || '(none)'}`,
    `created:      ${thing.createdAt}`,
    `updated:      ${thing.updatedAt}`,
  ].join('\n');
}

function formatPage(page: ThingPage): string {
  if (page.things.length === 0) return 'no things match';
  const width = Math.max(...page.things.map((thing) => thing.name.length));
  const lines = page.things.map((thing) =>
    [thing.name.padEnd(width), thing.thingTypeName ?? '-', formatAttributes(thing.attributes)]
      .join('  ')
      .trimEnd(),
  );
  if (page.nextToken) lines.push(`more: --next ${page.nextToken}`);
  return lines.join('\n');
}

function formatAttributes(attributes: Attributes): string {
  return Object.entries(attributes)
    .map(([key, value]) => `${key}=${value}`)
    .join(' ');
}
