/**
 * node:net's (and node:http's) constructors work with and without `new`; an
 * ES class does not, so the exported binding forwards a plain call to `new`.
 * Internal: not part of any public module.
 */
export function callable<C extends new (...args: any[]) => any>(C: C): C & ((...args: ConstructorParameters<C>) => InstanceType<C>) {
  return new Proxy(C, { apply: (target, _this, args) => new target(...args) }) as C & ((...args: ConstructorParameters<C>) => InstanceType<C>);
}
