/**
 * Token buckets, one per principal and kind of call: `rate` tokens a second refill up to
 * `burst`; a call takes one. A rate of 0 turns throttling off.
 */
export interface BucketSettings {
  rate: number;
  burst: number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export class Throttle {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly settings: BucketSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes a token; returns 0 when the call may go ahead, else the seconds until it may. */
  take(key: string): number {
    const { rate } = this.settings;
    if (rate <= 0) return 0;
    // A bucket that cannot hold one whole token would refuse every call forever.
    const burst = Math.max(1, this.settings.burst);
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: burst, updatedAt: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * rate);
    bucket.updatedAt = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / rate));
  }
}
