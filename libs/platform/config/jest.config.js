module.exports = require('../../../jest.preset.js')('libs/platform/config', 'config');
