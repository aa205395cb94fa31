/*
 * Jest configuration: the Flex plugin tooling's own preset (@twilio/flex-plugin-test, the
 * config `flex-plugin test` builds), in the jsdom environment `flex-plugin test` selects.
 *
 * This file serves two callers: `flex-plugin test` calls it with the preset and
 * { isProd, isDev, isTest } (the template's customisation hook), and `jest` itself calls it
 * with no arguments — which is how `npm test` runs, see README.md.
 */
const flexPreset = require('@twilio/flex-plugin-test').default;

module.exports = (config = flexPreset()) => ({
  ...config,
  testEnvironment: 'jsdom',
  // The preset's watch plugins are for interactive use only.
  watchPlugins: [],
  // Tests render the plugin's own components; nothing may reach the network.
  clearMocks: true,
  restoreMocks: true,
});
