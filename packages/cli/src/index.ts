export { createCliLogger } from './logger.ts';
export { createProgram } from './program.ts';
