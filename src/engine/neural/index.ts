/** The neural matting engine (ONNX base + refiner, contract cleanplate-bgm/1). */
export { createNeuralEngine, DEFAULT_REFINE_BATCH, type NeuralEngineOptions } from './engine.js';
