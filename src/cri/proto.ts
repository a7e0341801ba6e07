import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import path from 'node:path';
import { packageRoot } from '../package-info.js';
import type { ProtoGrpcType } from '../generated/api.js';
import loaderOptions from './proto-loader-options.json' with { type: 'json' };

export type CriPackage = ProtoGrpcType['runtime']['v1'];

/** The proto package every CRI message and service is in. */
export const CRI_PACKAGE = 'runtime.v1';

/**
 * Loads the vendored CRI api.proto with the same options the generated types
 * were made with (scripts/gen-proto-types.mjs reads the same JSON file).
 */
export function loadCriDefinition(): protoLoader.PackageDefinition {
  return protoLoader.loadSync('runtime/v1/api.proto', {
    ...loaderOptions,
    longs: constructorNamed(loaderOptions.longs),
    enums: constructorNamed(loaderOptions.enums),
    bytes: constructorNamed(loaderOptions.bytes),
    includeDirs: [path.join(packageRoot, 'proto')],
  });
}

export function loadCriPackage(definition = loadCriDefinition()): CriPackage {
  return (grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType).runtime.v1;
}

/** The JSON names the types as words (as the generator's flags do); the loader wants the constructors. */
function constructorNamed(name: string): typeof String | typeof Number | typeof Array | typeof Buffer {
  switch (name) {
    case 'String':
      return String;
    case 'Number':
      return Number;
    case 'Array':
      return Array;
    case 'Buffer':
      return Buffer;
    default:
      throw new Error(`proto-loader-options.json names an unknown type: ${name}`);
  }
}
