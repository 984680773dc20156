// ringwire: io_uring sockets, AF_XDP packet rings and shared-memory rings for
// Node on Linux, with a software fallback.
export { capabilities } from './capabilities';
export type { Capabilities, Facility, UringCapability } from './capabilities';
export { doctor } from './doctor';
export type { DoctorReport, Check } from './doctor';
export { systemError } from './errors';
export type { SystemError } from './errors';
