module.exports = require('../jest.preset.js')('e2e', 'e2e');
