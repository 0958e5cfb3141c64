import { invalidInput } from '../api/errors.js';

// AWS IoT's limits for things, types and groups (aws-iot-spec.md 1 and 5; botocore IoT model).
export const thingNamePattern = /^[a-zA-Z0-9:_-]+$/;
export const maxNameLength = 128;
const attributeNamePattern = /^[a-zA-Z0-9_.,@/:#-]+$/;
const maxAttributeNameLength = 128;
const attributeValuePattern = /^[a-zA-Z0-9_.,@/:#=[\]-]*$/;
const maxAttributeValueLength = 800;
export const maxAttributesWithoutType = 3;
export const maxAttributesWithType = 50;
export const maxGroupsPerThing = 10;
export const maxGroupDepth = 7;
const maxSearchableAttributes = 3;
const maxDescriptionLength = 2028;
// AWS's [\p{Graph}\x20]*: visible characters and plain spaces, so no control or separator characters.
const descriptionPattern = /^[^\p{C}\p{Zl}\p{Zp}]*$/u;

export type Attributes = Record<string, string>;

/** Thing, thing type and thing group names share one rule: 1-128 of [a-zA-Z0-9:_-]. */
export function checkName(field: string, value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0)
    throw invalidInput(field, `a ${what} name is required.`);
  if (value.length > maxNameLength) {
    throw invalidInput(
      field,
      `a ${what} name has at most ${maxNameLength} characters; "${value.slice(0, 20)}..." has ${value.length}.`,
    );
  }
  if (!thingNamePattern.test(value)) {
    throw invalidInput(field, `"${value}" may contain only letters, digits, colon, underscore and hyphen.`);
  }
  return value;
}

export const checkThingName = (value: unknown, field = 'thingName'): string =>
  checkName(field, value, 'thing');
export const checkThingTypeName = (value: unknown, field = 'thingTypeName'): string =>
  checkName(field, value, 'thing type');
export const checkThingGroupName = (value: unknown, field = 'thingGroupName'): string =>
  checkName(field, value, 'thing group');

export const checkBillingGroupName = (value: unknown, field = 'billingGroupName'): string =>
  checkName(field, value, 'billing group');

export function checkAttributeName(name: string, field = `attributes.${name}`): void {
  if (name.length === 0 || name.length > maxAttributeNameLength) {
    throw invalidInput(field, `an attribute name has 1 to ${maxAttributeNameLength} characters.`);
  }
  if (!attributeNamePattern.test(name)) {
    throw invalidInput(
      field,
      `attribute name "${name}" may contain only letters, digits and _ . , @ / : # -.`,
    );
  }
}

export function checkAttributeValue(name: string, value: unknown): void {
  const field = `attributes.${name}`;
  if (typeof value !== 'string') throw invalidInput(field, 'an attribute value is text.');
  if (value.length > maxAttributeValueLength) {
    throw invalidInput(
      field,
      `an attribute value has at most ${maxAttributeValueLength} characters; this one has ${value.length}.`,
    );
  }
  if (!attributeValuePattern.test(value)) {
    throw invalidInput(field, `value "${value}" may contain only letters, digits and _ . , @ / : # = [ ] -.`);
  }
}

/** Checks every attribute, then how many a thing may carry: 3 without a thing type, 50 with one. */
export function checkAttributes(attributes: Attributes, hasThingType: boolean): void {
  for (const [name, value] of Object.entries(attributes)) {
    checkAttributeName(name);
    checkAttributeValue(name, value);
  }
  checkAttributeCount(Object.keys(attributes).length, hasThingType);
}

export function checkAttributeCount(count: number, hasThingType: boolean): void {
  const limit = hasThingType ? maxAttributesWithType : maxAttributesWithoutType;
  if (count > limit) {
    throw invalidInput(
      'attributes',
      hasThingType
        ? `a thing has at most ${limit} attributes; ${count} given.`
        : `a thing without a thing type has at most ${limit} attributes (give it a thing type for up to ${maxAttributesWithType}); ${count} given.`,
    );
  }
}

export function checkDescription(field: string, value: string | undefined): void {
  if (value === undefined) return;
  if (value.length > maxDescriptionLength)
    throw invalidInput(field, `a description has at most ${maxDescriptionLength} characters.`);
  if (!descriptionPattern.test(value))
    throw invalidInput(field, 'a description may contain printable characters and spaces only.');
}

export function checkSearchableAttributes(names: readonly string[]): void {
  if (names.length > maxSearchableAttributes) {
    throw invalidInput(
      'searchableAttributes',
      `a thing type has at most ${maxSearchableAttributes} searchable attributes; ${names.length} given.`,
    );
  }
  names.forEach((name) => checkAttributeName(name, 'searchableAttributes'));
  if (new Set(names).size !== names.length)
    throw invalidInput('searchableAttributes', 'each searchable attribute is named once.');
}
