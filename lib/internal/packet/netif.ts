// What /sys/class/net says about an interface: index, RX queue count, MAC,
// driver. Read in TS so validation happens before any native call.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { invalidArgValue, systemError } from '../errors';
import { ENODEV } from '../errno';

export interface NetInterface {
  name: string;
  ifindex: number;
  /** RX queues (/sys/class/net/<if>/queues/rx-*). */
  rxQueues: number;
  mac: Uint8Array;
  /** Kernel driver name (e.g. 'veth', 'ixgbe', 'sfc'), '' for virtual devices without one. */
  driver: string;
  /** First IPv4 address of the interface as a host-order uint32, 0 if none. */
  ipv4: number;
}

const IFNAMSIZ = 16;

function read(p: string): string | null {
  try {
    return fs.readFileSync(p, 'utf8').trim();
  } catch {
    return null;
  }
}

/** Validates the name, then reads the interface; ENODEV-style error when it does not exist. */
export function netInterface(name: string, argName = 'options.interface'): NetInterface {
  if (name.length === 0 || name.length >= IFNAMSIZ || name.includes('/') || name === '.' || name === '..' || /\s/.test(name)) {
    throw invalidArgValue(argName, name, `must be a network interface name (1-${IFNAMSIZ - 1} characters, no '/' or spaces)`);
  }
  const dir = `/sys/class/net/${name}`;
  const ifindex = Number(read(`${dir}/ifindex`));
  if (!Number.isInteger(ifindex) || ifindex <= 0) {
    throw systemError(ENODEV, 'if_nametoindex', { message: `no network interface named '${name}' in this network namespace` });
  }
  let rxQueues = 0;
  try {
    rxQueues = fs.readdirSync(`${dir}/queues`).filter((q) => q.startsWith('rx-')).length;
  } catch {
    rxQueues = 0;
  }
  const macText = read(`${dir}/address`) ?? '';
  const mac = new Uint8Array(6);
  const parts = macText.split(':');
  if (parts.length === 6) parts.forEach((h, i) => (mac[i] = parseInt(h, 16) || 0));
  let driver = '';
  try {
    driver = fs.readlinkSync(`${dir}/device/driver`).split('/').pop() ?? '';
  } catch {
    const uevent = read(`${dir}/uevent`) ?? '';
    const m = /^DEVTYPE=(\S+)/m.exec(uevent);
    driver = m ? m[1] : '';
  }
  let ipv4 = 0;
  const addrs = os.networkInterfaces()[name] ?? [];
  const v4 = addrs.find((a) => a.family === 'IPv4');
  if (v4) ipv4 = v4.address.split('.').reduce((acc, o) => ((acc << 8) | Number(o)) >>> 0, 0);
  return { name, ifindex, rxQueues: Math.max(rxQueues, 1), mac, driver, ipv4 };
}
