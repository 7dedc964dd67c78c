/**
 * Values handled between two pauses (yields) of the engine's pausing
 * generators: few enough that a caller running them in slices ends each
 * slice on time, many enough that pausing costs nothing.
 */
export const VALUES_PER_PAUSE = 1 << 15;
