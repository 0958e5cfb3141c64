import type { BillingGroup, BillingGroupCreated } from '../../registry/billing-groups.js';
import { cliActor, withRegistry } from '../open-registry.js';
import type { CommandModule } from '../program.js';

/** `station billing-group create|list`: billing groups a template's BillingGroup may name. */
export const billingGroupCommands: CommandModule = {
  register(program, context) {
    const group = program
      .command('billing-group')
      .description('billing groups (a thing is in one at most; they exist before a thing names one)');

    group
      .command('create <name>')
      .description('create a billing group (an identical one already there counts as success)')
      .option('--description <text>', 'what the billing group is')
      .action(async (name: string, options: { description?: string }) => {
        const cli = context();
        const result = await withRegistry(cli, (registry) =>
          registry.transaction(cliActor(), (tx) =>
            registry.billingGroups.create(tx, { name, description: options.description }),
          ),
        );
        cli.print(result, (created: BillingGroupCreated) =>
          created.created
            ? `created billing group ${name}`
            : `billing group ${name} already exists with this configuration`,
        );
      });

    group
      .command('list')
      .description('list billing groups')
      .action(async () => {
        const cli = context();
        const groups = await withRegistry(cli, (registry) => registry.billingGroups.list());
        cli.print(groups, (list: BillingGroup[]) =>
          list.length === 0
            ? 'no billing groups'
            : list
                .map((entry) => `${entry.name}${entry.description ? `\t${entry.description}` : ''}`)
                .join('\n'),
        );
      });
  },
};
