/**
 * The system's clock: the one place that reads the time of day. Everything else takes a Clock, so
 * tests and `demo --today` pin it. A module of its own so that the CLI's entry imports no more.
 */
import type { Clock } from '../ports.js';

export const systemClock: Clock = { now: () => new Date() };
