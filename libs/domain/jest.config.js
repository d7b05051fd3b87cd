module.exports = require('../../jest.preset.js')('libs/domain', 'domain');
