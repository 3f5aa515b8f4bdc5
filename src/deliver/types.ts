export interface RecipientResult {
  recipient: string;
  response: string;
}

/** Per-recipient outcome of one attempt: 2xx delivered, 5xx failed for good, 4xx or no answer deferred. */
export interface SendOutcome {
  delivered: RecipientResult[];
  failed: RecipientResult[];
  deferred: RecipientResult[];
  /**
   * Set when nothing reached the relay's judgement: no connection, a timeout, a dropped session, a 421. The
   * reply is that error. The relay, not this mail, is the problem (the circuit breaker's business).
   */
  relayDown?: string;
  /** Set when the relay answered this mail as a whole with a 4xx (MAIL FROM or DATA): that reply. */
  mailDeferred?: string;
}

export interface Transport {
  /** `key` names this exact mail for this batch; transports that write files use it to stay idempotent. */
  send(envelope: { from: string; to: string[] }, raw: Buffer, key: string): Promise<SendOutcome>;
  close(): void;
}
