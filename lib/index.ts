// ringwire: io_uring sockets, AF_XDP packet rings and shared-memory rings for
// Node on Linux, with a software fallback.
export { capabilities } from './capabilities';
export type { Capabilities, Facility, UringCapability } from './capabilities';
export { doctor } from './doctor';
export type { DoctorReport, Check } from './doctor';
export { systemError } from './internal/errors';
export type { SystemError } from './internal/errors';
export { createUdpSocket, UdpSocket, UdpBatch, resolveBackend } from './udp';
export type { UdpSocketOptions, UdpStats, Datagram, SendCallback, Backend, AddressInfo } from './udp';
export { createTcpEndpoint, configureTcpBuffers, tcpStats, TcpEndpoint, TcpListener, TcpBatch, TcpEvent } from './tcp';
export type { TcpEndpointOptions, TcpListenOptions, TcpConnectOptions, TcpEventType, TcpStats, TcpConnStats, BufferConfig } from './tcp';
export { loopStats } from './internal/loop';
export type { LoopStats } from './internal/loop';
export { pinThread, currentCpu, threadAffinity } from './affinity';
export { createRegion, openRegion, unlinkRegion, listRegions, cleanupRegions, ShmRegion, REGION_PREFIX, MAX_REGION_SIZE } from './shm';
export type { CreateRegionOptions, MapOptions, OpenTarget, RegionInfo, Advice } from './shm';
export { SpscRing, SpscProducer, SpscConsumer } from './spsc';
export type { SpscFormatOptions } from './spsc';
export { MpscRing, MpscProducer, MpscConsumer } from './mpsc';
export type { MpscFormatOptions } from './mpsc';
export { futexBackend } from './internal/msgring/ring-base';
export { ringLayout } from './internal/msgring/layout';
export type { PeerStatus, WaitStrategy, WaitOptions, WaitAsyncOptions, EndpointOptions } from './internal/msgring/ring-base';
export type { RingLayout } from './internal/msgring/layout';
export { openPacketRing, resolvePacketBackend, PacketRing, FrameBatch, PACKET_STAT_NAMES } from './packet-ring';
export type { PacketRingOptions, PacketRingInfo, PacketRingStats, PacketRingBackend } from './packet-ring';
export {
  parseUdpFrame, buildUdpFrame, swapUdpFrame, verifyUdpChecksums, udpPayloadOffset, udpPayloadLength, udpHeadersLength,
  ipv4HeaderChecksum, udpChecksum, checksumAdd, checksumFinish, formatMac, parseMac,
} from './packet-headers';
export type { UdpFrameInfo, UdpFrameSpec } from './packet-headers';
export { busyPoll, currentBusyPoller, BusyPoller, adaptivePoll, adaptivePollInfo } from './busy-poll';
export type { BusyPollOptions, BusyPollStats, AdaptivePollStats, AdaptivePollSetting } from './busy-poll';
