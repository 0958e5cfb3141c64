/**
 * The provisioning template engine (pure, no I/O): parse and validate an AWS IoT provisioning template,
 * evaluate it with a parameter dictionary into a ResourcePlan, and read bulk-registration input.
 */
import type { ResourcePlan, TemplateIssue } from '../api/templates.js';
import { evaluateTemplate, type EvaluationInput } from './evaluate-template.js';
import { parseTemplate, type ParseOptions } from './parse-template.js';
import { templateError } from './template-issues.js';
import type { ParsedTemplate } from './template-model.js';

export { evaluateTemplate, type EvaluationInput } from './evaluate-template.js';
export { parseTemplate, type ParseOptions } from './parse-template.js';
export { readBulkInput, parseBulkLine, type BulkInputLine } from './bulk-input.js';
export { policyNameForDocument, canonicalJson } from './policy-naming.js';
export { formatIssue, templateError, type Outcome } from './template-issues.js';
export { reconcileThing, type ExistingThing, type ThingReconciliation } from './thing-reconciliation.js';
export type { ParsedTemplate, UndeclaredParameterPolicy } from './template-model.js';
export {
  certificateRequestParameter,
  fixedCertificateStatus,
  namedResources,
  referencedParameters,
  type NamedResources,
} from './template-queries.js';
export { templateTypeIssues } from './template-type.js';
export { isBuiltInParameter } from './parse-expression.js';

/** Every fault of a template body; empty when it is valid. */
export function validateTemplate(body: string, options: ParseOptions = {}): TemplateIssue[] {
  const outcome = parseTemplate(body, options);
  return outcome.ok ? [] : outcome.errors;
}

/** Parses or throws a StationError `template.invalid` carrying every fault in `details.errors`. */
export function loadTemplate(body: string, options: ParseOptions = {}): ParsedTemplate {
  const outcome = parseTemplate(body, options);
  if (!outcome.ok) throw templateError('template.invalid', outcome.errors);
  return outcome.value;
}

/** Evaluates or throws a StationError `template.evaluation_failed` carrying every fault. */
export function planResources(template: ParsedTemplate, input: EvaluationInput): ResourcePlan {
  const outcome = evaluateTemplate(template, input);
  if (!outcome.ok) throw templateError('template.evaluation_failed', outcome.errors);
  return outcome.value;
}
