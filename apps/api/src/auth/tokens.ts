export const ADMIN_TOKEN = Symbol('ADMIN_TOKEN');
export const TOKEN_STORE = Symbol('TOKEN_STORE');
export const RATE_LIMITER = Symbol('RATE_LIMITER');
