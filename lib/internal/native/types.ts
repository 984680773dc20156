// Shapes shared by several facilities of the native interface. Type-only:
// compiles to an empty module.
//
// The native return rule (native/README.md): a function returns its value,
// or a negative errno as a plain number; a function whose failure needs the
// failing step says so with a SystemFailure object. Where a success can
// itself be negative, it is boxed (udpGetOpt, tcpGetOpt: [value]).

/** A failure naming its step: `errno` is negative. */
export interface SystemFailure {
  errno: number;
  syscall: string;
}

/**
 * A branded type: a value only native code hands out (an External, a loop
 * id) that TypeScript cannot forge by accident. The brand exists only at
 * compile time.
 */
export type Brand<T, B extends string> = T & { readonly __ringwireBrand: B };
