/** Injection tokens for values that are interfaces (no runtime class to inject by). */
export const CONFIG = Symbol('KILN_CONFIG');
export const NAMES = Symbol('KILN_NAMES');
export const NATS = Symbol('KILN_NATS');
export const LOGGER = Symbol('KILN_LOGGER');
export const SERVICE_NAME = Symbol('KILN_SERVICE_NAME');
