export {
  createJsonlDriver,
  defaultJsonlUsbMatch,
  jsonlDriver,
  type JsonlDriverOptions,
} from './jsonl-driver.js';
export { JsonlSimulator, type JsonlSimulatorOptions } from './jsonl-simulator.js';
