module.exports = require('../../../jest.preset.js')('libs/platform/service-kit', 'service-kit');
