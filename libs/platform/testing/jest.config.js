module.exports = require('../../../jest.preset.js')('libs/platform/testing', 'testing');
