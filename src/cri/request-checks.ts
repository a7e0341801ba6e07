import type { PackageDefinition } from '@grpc/proto-loader';
import { InvalidArgumentError } from '../errors.js';

/**
 * What no CRI request may carry, whatever its RPC, found by walking the
 * request along its message type in the vendored proto:
 * - an enum number this version of the proto does not name: the loader
 *   passes it on as a bare number where the domain code expects a name;
 * - a NUL byte in a string: paths, arguments, environment, hostnames and
 *   cgroup names all reach the kernel as C strings, which would end there,
 *   silently running something other than what was asked. Annotation values
 *   are the exception: CRI treats them as opaque data for the runtime's
 *   records and the OCI spec, where a NUL is just a character.
 * Each finding is an InvalidArgumentError naming the field by its path in
 * the request, e.g. `config.port_mappings[0].protocol`.
 */

interface FieldDescriptor {
  readonly name: string;
  readonly type: string;
  readonly typeName: string;
  readonly label: string;
}

interface MessageDescriptor {
  readonly name: string;
  readonly field: readonly FieldDescriptor[];
  readonly nestedType: ReadonlyArray<MessageDescriptor & { readonly options: { readonly mapEntry?: boolean } | null }>;
}

type ValueCheck = (value: unknown, where: string) => void;

/** `portMappings` as api.proto spells it, `port_mappings`: the name a client's author knows. */
function protoName(camel: string): string {
  return camel.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

function refuseNul(value: unknown, where: string): void {
  if (typeof value === 'string' && value.includes('\0')) throw new InvalidArgumentError(`${where} contains a NUL byte`);
}

export class RequestChecks {
  /** One check per message type, made on first use; a type's check is looked up late so recursive types terminate. */
  private readonly checks = new Map<string, ValueCheck>();

  /** Every message's check is made here, so a type the walk cannot resolve fails the daemon's start, not a call. */
  constructor(
    private readonly definition: PackageDefinition,
    private readonly packageName: string,
  ) {
    for (const [name, entry] of Object.entries(definition)) {
      if (name.startsWith(`${packageName}.`) && (entry as { format?: string }).format === 'Protocol Buffer 3 DescriptorProto') {
        this.messageCheck(name);
      }
    }
  }

  /** Throws for the first thing in `request` that no request may carry; `typeName` is the request's message, e.g. `RunPodSandboxRequest`. */
  check(typeName: string, request: unknown): void {
    this.messageCheck(`${this.packageName}.${typeName}`)(request, '');
  }

  private messageCheck(fullName: string): ValueCheck {
    const known = this.checks.get(fullName);
    if (known) return known;
    const entry = this.definition[fullName] as { type?: MessageDescriptor } | undefined;
    if (entry?.type === undefined) throw new Error(`${fullName} is not a message of the CRI proto`);
    const descriptor = entry.type;
    const fields = descriptor.field.map((field) => ({
      key: field.name,
      name: protoName(field.name),
      check: this.fieldCheck(descriptor, fullName, field),
    }));
    const check: ValueCheck = (value, where) => {
      if (value === null || value === undefined) return;
      const message = value as Record<string, unknown>;
      for (const field of fields) field.check(message[field.key], where === '' ? field.name : `${where}.${field.name}`);
    };
    this.checks.set(fullName, check);
    return check;
  }

  private fieldCheck(parent: MessageDescriptor, parentName: string, field: FieldDescriptor): ValueCheck {
    const mapEntry = parent.nestedType.find((nested) => nested.name === field.typeName && nested.options?.mapEntry === true);
    if (mapEntry !== undefined) {
      const valueField = mapEntry.field.find((entryField) => entryField.name === 'value')!;
      const checkValue = field.name === 'annotations' ? () => undefined : this.singleCheck(parentName, valueField);
      return (value, where) => {
        for (const [key, entryValue] of Object.entries((value ?? {}) as Record<string, unknown>)) {
          refuseNul(key, `${where} key`);
          checkValue(entryValue, `${where}[${JSON.stringify(key)}]`);
        }
      };
    }
    const single = this.singleCheck(parentName, field);
    if (field.label !== 'LABEL_REPEATED') return single;
    return (value, where) => {
      if (!Array.isArray(value)) return;
      value.forEach((item, index) => single(item, `${where}[${index}]`));
    };
  }

  private singleCheck(parentName: string, field: FieldDescriptor): ValueCheck {
    switch (field.type) {
      case 'TYPE_STRING':
        return refuseNul;
      case 'TYPE_ENUM':
        return (value, where) => {
          if (typeof value === 'number') throw new InvalidArgumentError(`${where}: ${value} is not a ${field.typeName} value`);
        };
      case 'TYPE_MESSAGE': {
        const fullName = this.resolve(parentName, field.typeName);
        return (value, where) => this.messageCheck(fullName)(value, where);
      }
      default:
        return () => undefined;
    }
  }

  /** A type name as the descriptor gives it, relative to the package. */
  private resolve(parentName: string, typeName: string): string {
    const candidates = [`${parentName}.${typeName}`, `${this.packageName}.${typeName}`, typeName.replace(/^\./, '')];
    const found = candidates.find((candidate) => this.definition[candidate] !== undefined);
    if (found === undefined) throw new Error(`${parentName}: cannot resolve the message type ${typeName}`);
    return found;
  }
}
