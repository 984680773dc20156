// Named negative errnos, as native functions return them (-errno). The
// numbers come from os.constants.errno (the platform's own values, never
// typed here); the few libuv has no name for come from the addon.
import { constants } from 'node:os';
import { native } from './native';

const E = constants.errno;

export const EPERM = -E.EPERM;
export const ENOENT = -E.ENOENT;
export const EBADF = -E.EBADF;
export const EAGAIN = -E.EAGAIN;
export const ENOMEM = -E.ENOMEM;
export const EACCES = -E.EACCES;
export const EBUSY = -E.EBUSY;
export const EEXIST = -E.EEXIST;
export const ENODEV = -E.ENODEV;
export const EINVAL = -E.EINVAL;
export const ENFILE = -E.ENFILE;
export const EMFILE = -E.EMFILE;
export const ENOSYS = -E.ENOSYS;
export const EBADMSG = -E.EBADMSG;
export const EOPNOTSUPP = -E.EOPNOTSUPP;
export const EAFNOSUPPORT = -E.EAFNOSUPPORT;
export const EADDRNOTAVAIL = -E.EADDRNOTAVAIL;
export const ENOBUFS = -E.ENOBUFS;
export const ENOTCONN = -E.ENOTCONN;
export const ETIMEDOUT = -E.ETIMEDOUT;
export const ECANCELED = -E.ECANCELED;

/** ENOKEY (Linux, not in os.constants.errno): from the addon; NaN when it cannot load, where nothing can return it. */
export function ENOKEY(): number {
  try {
    return native().errno.ENOKEY;
  } catch {
    return NaN;
  }
}
