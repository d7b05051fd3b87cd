module.exports = require('../../../jest.preset.js')('libs/platform/build-cache', 'build-cache');
