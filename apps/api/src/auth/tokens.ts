export const ADMIN_TOKEN = Symbol('ADMIN_TOKEN');
