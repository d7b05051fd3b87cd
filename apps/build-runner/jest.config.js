module.exports = require('../../jest.preset.js')('apps/build-runner', 'build-runner');
