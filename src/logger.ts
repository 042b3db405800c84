import pino from "pino";

export type Logger = pino.Logger;

/** JSON lines on stdout. Nothing personal or secret is logged by design; the redact list is the safety net. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "clerk-provisioner" },
      redact: {
        paths: ["email", "*.email", "secret", "*.secret", "headers", "*.headers", "signature", "*.signature"],
        censor: "[redacted]",
      },
    },
    destination,
  );
}
