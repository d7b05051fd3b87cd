module.exports = require('../../../jest.preset.js')('libs/platform/transport', 'transport');
