module.exports = require('../../jest.preset.js')('apps/deployer', 'deployer');
