/** The gRPC service as proto/ocr/v1/ocr.proto declares it: health checks, reflection and clients name it so. */
export const OCR_SERVICE = 'ocr.v1.OcrService';
