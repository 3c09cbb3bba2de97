/**
 * A caller's text as an answer and its log line repeat it: whole while short, else its start and
 * its length. A JSON body may hold a field name megabytes long, a header or metadata value tens of
 * kilobytes: repeated whole, every refusal of one wrote that much to the log, at info.
 */

/** The most of a caller's text that a message repeats. */
const SHOWN_CHARACTERS = 64;

/** `text` whole, or past SHOWN_CHARACTERS, its start and its length. */
export const clipped = (text: string): string =>
  text.length <= SHOWN_CHARACTERS ? text : `${text.slice(0, SHOWN_CHARACTERS)}… (${text.length} characters)`;

/** What was sent, as it was sent: a string quoted, JSON's other values as JSON ([960] stays an array); clipped. */
export const shown = (raw: unknown): string => clipped(typeof raw === 'string' ? `'${raw}'` : (JSON.stringify(raw) ?? String(raw)));
