export {
  createQuectelDriver,
  quectelDriver,
  quectelUsbMatches,
  type QuectelDriverOptions,
} from './quectel-driver.js';
export { QuectelSimulator, type QuectelSimulatorOptions } from './quectel-simulator.js';
export { quectelChecksum } from './upload-checksum.js';
