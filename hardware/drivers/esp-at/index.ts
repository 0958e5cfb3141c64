export {
  ESP_AT_COMMAND_LIMIT,
  checkCommandLength,
  createEspAtDriver,
  espAtDriver,
  espAtUsbMatches,
  type EspAtDriverOptions,
} from './esp-at-driver.js';
export { EspAtSimulator, type EspAtSimulatorOptions } from './esp-at-simulator.js';
