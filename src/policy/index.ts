/** IoT policies (pure): validation as CreatePolicy does it and a local TestAuthorization. */
export { evaluateAuthorization, type NamedPolicy } from './authorization.js';
export {
  policyDocumentMaxCharacters,
  validatePolicyDocument,
  type PolicyValidation,
} from './document-validation.js';
export { applySubstitutions, readPolicySource, type PolicySource } from './policy-source.js';
export type {
  AuthorizationContext,
  AuthorizationRequest,
  AuthorizationResult,
  PolicyDocument,
  PolicyIssue,
} from '../api/policies.js';
