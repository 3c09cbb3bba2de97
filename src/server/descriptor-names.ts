import { fromBinary, isFieldSet, toBinary } from '@bufbuild/protobuf';
import { protoCamelCase } from '@bufbuild/protobuf/reflect';
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FieldDescriptorProtoSchema,
  FieldOptionsSchema,
  FileDescriptorProtoSchema,
  type DescriptorProto,
  type FileDescriptorProto,
} from '@bufbuild/protobuf/wkt';

/**
 * File descriptors from proto-loader, with their names as protoc writes them. proto-loader names
 * each field's and method's type by its shortest name from where it is used ("Point" for
 * ocr.v1.Point), which descriptor.proto allows under C++ scoping rules, and leaves out fields' JSON
 * names. grpcurl copes with both, but stricter readers of reflection (protobuf-es registries,
 * protosets turned into code) read "Point" as unresolvable and a JSON name of "". This makes every
 * type reference fully qualified (".ocr.v1.Point"), given all the files it may point into, and sets
 * each field's JSON name as protoc does ("instance_id" → "instanceId"). Map fields' entry messages
 * get protoc's names too (nameMapEntries), proto3 `optional` fields protoc's flag (markProto3Optional),
 * and each file the name protoc gives it from its include root (`fileNames`, by package: proto-loader
 * names a file after its package, "ocr_v1.proto", which file_by_filename then knows under no other).
 */
export function completeNames(files: readonly Uint8Array[], fileNames: ReadonlyMap<string, string> = new Map()): Uint8Array[] {
  const decoded = files.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
  for (const file of decoded) {
    file.name = fileNames.get(file.package) ?? file.name;
    if (file.syntax === 'proto3') for (const message of file.messageType) markProto3Optional(message);
  }
  // Before collecting names, so that references resolve to the entries' new names.
  for (const file of decoded) for (const message of file.messageType) nameMapEntries(message, join(file.package, message.name));
  const known = new Set<string>();
  for (const file of decoded) collectNames(file, known);
  return decoded.map((file) => {
    const pkg = file.package;
    for (const message of file.messageType) qualifyMessage(message, join(pkg, message.name), known);
    for (const service of file.service) {
      const scope = join(pkg, service.name);
      for (const method of service.method) {
        method.inputType = resolve(method.inputType, scope, known);
        method.outputType = resolve(method.outputType, scope, known);
      }
    }
    return toBinary(FileDescriptorProtoSchema, file);
  });
}

const join = (scope: string, name: string): string => (scope ? `${scope}.${name}` : name);

function collectNames(file: FileDescriptorProto, into: Set<string>): void {
  const addMessage = (message: DescriptorProto, scope: string): void => {
    const name = join(scope, message.name);
    into.add(name);
    for (const e of message.enumType) into.add(join(name, e.name));
    for (const nested of message.nestedType) addMessage(nested, name);
  };
  for (const e of file.enumType) into.add(join(file.package, e.name));
  for (const message of file.messageType) addMessage(message, file.package);
}

function qualifyMessage(message: DescriptorProto, fullName: string, known: Set<string>): void {
  // Scalar fields have no type name: assigning one, even "", marks it present, and protoc then
  // looks for a type called "".
  for (const field of message.field) {
    if (field.typeName) field.typeName = resolve(field.typeName, fullName, known);
    field.jsonName ||= protoCamelCase(field.name);
  }
  for (const extension of message.extension) if (extension.typeName) extension.typeName = resolve(extension.typeName, fullName, known);
  for (const nested of message.nestedType) qualifyMessage(nested, join(fullName, nested.name), known);
}

/**
 * Renames the entry message of each map field in `message` (and in its nested messages) as protoc
 * names it: proto-loader calls the entry of `map<string, X> statuses` "Statuses", protoc
 * "StatusesEntry", and readers that validate maps (grpcurl, protoc itself, Go's protodesc) reject
 * any other name. The field then points at the entry by its full name.
 */
function nameMapEntries(message: DescriptorProto, fullName: string): void {
  for (const field of message.field) {
    if (field.type !== FieldDescriptorProto_Type.MESSAGE || field.label !== FieldDescriptorProto_Label.REPEATED) continue;
    // proto-loader's reference to its entry is the entry's bare name, relative to this message.
    const entry = message.nestedType.find((nested) => nested.options?.mapEntry === true && nested.name === field.typeName);
    if (!entry) continue;
    entry.name = mapEntryName(field.name);
    field.typeName = `.${join(fullName, entry.name)}`;
  }
  for (const nested of message.nestedType) nameMapEntries(nested, join(fullName, nested.name));
}

/**
 * proto-loader writes a proto3 `optional` field as a field alone in a oneof named `_field`, as protoc
 * does, but without the field's proto3_optional flag: readers then take it for a real oneof (grpcurl
 * describes `oneof _max_side_len { uint32 max_side_len = 1; }`, code generated from the descriptors
 * gets a oneof in place of an optional field). The flag is set again on each field alone in a oneof
 * named so.
 */
function markProto3Optional(message: DescriptorProto): void {
  const inOneof = message.field.filter((field) => isFieldSet(field, FieldDescriptorProtoSchema.field.oneofIndex));
  for (const field of inOneof) {
    const alone = inOneof.filter((other) => other.oneofIndex === field.oneofIndex).length === 1;
    const oneof = message.oneofDecl[field.oneofIndex];
    if (alone && oneof?.name === `_${field.name}` && field.label === FieldDescriptorProto_Label.OPTIONAL) {
      field.proto3Optional = true;
      // proto-loader leaves an empty FieldOptions on such a field, where protoc writes none.
      if (field.options && toBinary(FieldOptionsSchema, field.options).length === 0) field.options = undefined;
    }
  }
  for (const nested of message.nestedType) markProto3Optional(nested);
}

/** protoc's MapEntryName: "_" dropped and the letter after it capitalized, as is the first, then "Entry". */
export function mapEntryName(fieldName: string): string {
  return `${fieldName.replace(/^[a-z]/, (c) => c.toUpperCase()).replace(/_([a-z]?)/g, (_, c: string) => c.toUpperCase())}Entry`;
}

/**
 * `ref` as seen from inside `scope`: the innermost enclosing scope that has it wins (C++ rules, as
 * protoc applies them). Names already full, or not found, are left as they are.
 */
export function resolve(ref: string, scope: string, known: ReadonlySet<string>): string {
  if (ref === '' || ref.startsWith('.')) return ref;
  for (let s = scope; ; s = s.slice(0, Math.max(0, s.lastIndexOf('.')))) {
    const candidate = join(s, ref);
    if (known.has(candidate)) return `.${candidate}`;
    if (s === '') return ref;
  }
}
