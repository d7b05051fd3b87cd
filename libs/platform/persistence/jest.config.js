module.exports = require('../../../jest.preset.js')('libs/platform/persistence', 'persistence');
