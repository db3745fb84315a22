// The IPFIX codec (RFC 7011, RFC 5103): import everything from here.
export * from './api.js';
export { IpfixError, IPFIX_ERROR_CODES, isIpfixError } from './errors.js';
export type { IpfixErrorCode } from './errors.js';
export { ieByName, ieById, allInformationElements, unknownIeName } from './registry.js';
export {
  IPFIX_HEADER_LENGTH, IPFIX_VERSION, SET_HEADER_LENGTH, TEMPLATE_SET_ID, OPTIONS_TEMPLATE_SET_ID, MIN_DATA_SET_ID,
  readMessageLength, MessageDecoder,
} from './decoder.js';
export type { MessageDecoderOptions, DecodedDataSetOf, DecodedMessageOf } from './decoder.js';
export { TemplateCache, CompiledTemplate } from './template.js';
export { ieLookupWith } from './template.js';
export type { CompiledField, TemplateCacheOptions, IeLookup, RecordShape, ShapeProperty, ShapeConversion } from './template.js';
export { MessageWriter, DEFAULT_MAX_MESSAGE_SIZE, MIN_MAX_MESSAGE_SIZE } from './writer.js';
export type { EncodeShape, EncodeSource } from './writer.js';
export type { MessageWriterOptions } from './writer.js';
