/**
 * Loads public rating logs (MovieLens 100K, 1M, latest/25M, or a generic interactions.csv) into one
 * shape for offline evaluation. Reads files line by line so that large logs never have to fit in
 * one string, and maps ids onto the id alphabet our API accepts.
 */
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';

export interface Rating {
  userId: string;
  itemId: string;
  rating: number;
  /** Epoch ms. */
  at: number;
}

export interface CatalogueItem {
  itemId: string;
  title: string | null;
  categories: string[];
  /** Epoch ms. */
  releasedAt: number | null;
}

export interface Dataset {
  name: string;
  /** Sorted by `at`, then `userId`, then `itemId`. */
  ratings: Rating[];
  items: Map<string, CatalogueItem>;
}

/** The id alphabet of our API; every user and item id we produce must match it. */
const ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

/** u.genre order of the 19 flags at the end of each u.item line. */
const ML100K_GENRES = [
  'unknown',
  'Action',
  'Adventure',
  'Animation',
  "Children's",
  'Comedy',
  'Crime',
  'Documentary',
  'Drama',
  'Fantasy',
  'Film-Noir',
  'Horror',
  'Musical',
  'Mystery',
  'Romance',
  'Sci-Fi',
  'Thriller',
  'War',
  'Western',
];

const MONTHS: Record<string, number> = {
  jan: 0,
  feb: 1,
  mar: 2,
  apr: 3,
  may: 4,
  jun: 5,
  jul: 6,
  aug: 7,
  sep: 8,
  oct: 9,
  nov: 10,
  dec: 11,
};

interface Format {
  name: string;
  files: string[];
  load(dir: string): { ratings: Rating[]; items: Map<string, CatalogueItem> };
}

const FORMATS: Format[] = [
  { name: 'MovieLens 100K', files: ['u.data', 'u.item'], load: loadMl100k },
  { name: 'MovieLens 1M', files: ['ratings.dat', 'movies.dat'], load: loadMl1m },
  { name: 'MovieLens latest/25M', files: ['ratings.csv', 'movies.csv'], load: loadMlLatest },
  { name: 'generic interactions (user,item,rating,timestamp)', files: ['interactions.csv'], load: loadInteractions },
];

/**
 * Detects the format from the files in `dir` (the first format whose files all exist wins) and
 * returns its ratings in time order with the catalogue. Items rated but missing from the
 * catalogue file get a bare catalogue entry so that `items` covers every rated item.
 */
export function loadDataset(dir: string): Dataset {
  const format = FORMATS.find((f) => f.files.every((file) => existsSync(path.join(dir, file))));
  if (!format) {
    const looked = FORMATS.map((f) => `${f.files.join(' + ')} (${f.name})`).join('; ');
    throw new Error(`No known rating dataset in ${path.resolve(dir)}: looked for ${looked}`);
  }
  const { ratings, items } = format.load(dir);
  for (const r of ratings) {
    if (!items.has(r.itemId)) items.set(r.itemId, { itemId: r.itemId, title: null, categories: [], releasedAt: null });
  }
  ratings.sort(compareRatings);
  return { name: path.basename(path.resolve(dir)), ratings, items };
}

/** The order `Dataset.ratings` promises: time, then user id, then item id (code-unit order, not locale). */
export function compareRatings(a: Rating, b: Rating): number {
  return a.at - b.at || compareIds(a.userId, b.userId) || compareIds(a.itemId, b.itemId);
}

/** Locale-independent string order, so runs rank identically everywhere. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Lower-case `[a-z0-9_]+` category names: "Children's" -> "childrens", "Sci-Fi" -> "sci_fi".
 * "unknown" and "(no genres listed)" mean no category.
 */
export function normaliseCategory(raw: string): string | null {
  const name = raw
    .trim()
    .toLowerCase()
    .replace(/['’]/g, '')
    .replace(/[\s-]+/g, '_')
    .replace(/[^a-z0-9_]/g, '')
    .replace(/_+/g, '_')
    .replace(/^_|_$/g, '');
  if (name === '' || name === 'unknown' || name === 'no_genres_listed') return null;
  return name;
}

/** Jan 1 (UTC) of the year in a trailing "(1995)" (or "(2006–2007)") of a MovieLens title. */
export function releaseFromTitle(title: string): number | null {
  const match = /\((\d{4})(?:\s*[-–]\s*\d{0,4})?\)\s*$/.exec(title);
  return match ? Date.UTC(Number(match[1]), 0, 1) : null;
}

function categoriesOf(names: Iterable<string>): string[] {
  const out = new Set<string>();
  for (const raw of names) {
    const c = normaliseCategory(raw);
    if (c) out.add(c);
  }
  return [...out];
}

function id(prefix: 'u' | 'm', raw: string, where: string): string {
  const value = `${prefix}${raw.trim()}`;
  if (!ID_PATTERN.test(value)) throw new Error(`${where}: id "${raw}" does not give a valid id (${ID_PATTERN})`);
  return value;
}

function num(raw: string | undefined, where: string, what: string): number {
  const value = raw === undefined || raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${where}: ${what} "${raw ?? ''}" is not a number`);
  return value;
}

/**
 * Calls `onLine` for every non-empty line, decoding in 1 MiB chunks (a 25M-rating csv is larger
 * than the longest string V8 allows). `\r\n` endings and a UTF-8 BOM are stripped.
 */
function forEachLine(file: string, encoding: 'utf8' | 'latin1', onLine: (line: string, lineNo: number) => void): void {
  const fd = openSync(file, 'r');
  try {
    const decoder = new StringDecoder(encoding);
    const buffer = Buffer.allocUnsafe(1 << 20);
    let rest = '';
    let lineNo = 0;
    for (;;) {
      const read = readSync(fd, buffer, 0, buffer.length, null);
      const text = rest + (read > 0 ? decoder.write(buffer.subarray(0, read)) : decoder.end());
      const lines = text.split('\n');
      rest = read > 0 ? (lines.pop() ?? '') : '';
      for (let line of lines) {
        lineNo++;
        if (lineNo === 1 && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line.trim() !== '') onLine(line, lineNo);
      }
      if (read === 0) return;
    }
  } finally {
    closeSync(fd);
  }
}

/** Splits one CSV record (RFC 4180 quoting, `""` inside quotes is a quote). */
export function parseCsvRecord(record: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < record.length; i++) {
    const ch = record[i];
    if (quoted) {
      if (ch === '"') {
        if (record[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      fields.push(field);
      field = '';
    } else field += ch;
  }
  fields.push(field);
  return fields;
}

/** CSV records of a UTF-8 file; a quoted field may span lines. */
function forEachCsvRecord(file: string, onRecord: (fields: string[], lineNo: number) => void): void {
  let pending = '';
  let quotes = 0;
  forEachLine(file, 'utf8', (line, lineNo) => {
    pending = pending === '' ? line : `${pending}\n${line}`;
    for (let i = 0; i < line.length; i++) if (line.charCodeAt(i) === 34) quotes++;
    if (quotes % 2 === 1) return;
    onRecord(parseCsvRecord(pending), lineNo);
    pending = '';
    quotes = 0;
  });
  if (pending !== '') throw new Error(`${file}: unterminated quoted field at end of file`);
}

/** u.data: `user \t item \t rating \t unixSeconds`; u.item: latin1, `|`-separated, 19 genre flags. */
function loadMl100k(dir: string) {
  const items = new Map<string, CatalogueItem>();
  const itemFile = path.join(dir, 'u.item');
  forEachLine(itemFile, 'latin1', (line, lineNo) => {
    const where = `${itemFile}:${lineNo}`;
    const f = line.split('|');
    if (f.length < 5 + ML100K_GENRES.length) throw new Error(`${where}: expected ${5 + ML100K_GENRES.length} fields`);
    const itemId = id('m', f[0] ?? '', where);
    const rawTitle = (f[1] ?? '').trim();
    const title = rawTitle === '' || rawTitle === 'unknown' ? null : rawTitle;
    const flags = f.slice(5, 5 + ML100K_GENRES.length);
    const categories = categoriesOf(ML100K_GENRES.filter((_, i) => flags[i] === '1'));
    const releasedAt = parseDayMonthYear(f[2] ?? '') ?? (title ? releaseFromTitle(title) : null);
    items.set(itemId, { itemId, title, categories, releasedAt });
  });
  const ratings: Rating[] = [];
  readRatingRows(path.join(dir, 'u.data'), (line) => line.trim().split(/\s+/), ratings);
  return { ratings, items };
}

/** MovieLens rating rows `user item rating unixSeconds`, split by `fields`, appended to `out`. */
function readRatingRows(file: string, fields: (line: string) => string[], out: Rating[]) {
  forEachLine(file, 'latin1', (line, lineNo) => {
    const where = `${file}:${lineNo}`;
    const [user, item, rating, seconds] = fields(line);
    out.push({
      userId: id('u', user ?? '', where),
      itemId: id('m', item ?? '', where),
      rating: num(rating, where, 'rating'),
      at: num(seconds, where, 'timestamp') * 1000,
    });
  });
}

/** "01-Jan-1995" as UTC midnight; null when empty or malformed. */
function parseDayMonthYear(raw: string): number | null {
  const match = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(raw.trim());
  const month = match ? MONTHS[(match[2] ?? '').toLowerCase()] : undefined;
  if (!match || month === undefined) return null;
  return Date.UTC(Number(match[3]), month, Number(match[1]));
}

/** ratings.dat `user::item::rating::unixSeconds`; movies.dat latin1 `id::Title (1995)::Genre|Genre`. */
function loadMl1m(dir: string) {
  const items = new Map<string, CatalogueItem>();
  const movieFile = path.join(dir, 'movies.dat');
  forEachLine(movieFile, 'latin1', (line, lineNo) => {
    const where = `${movieFile}:${lineNo}`;
    const f = line.split('::');
    if (f.length < 3) throw new Error(`${where}: expected id::title::genres`);
    const itemId = id('m', f[0] ?? '', where);
    const title = f.slice(1, -1).join('::').trim() || null;
    const genres = f[f.length - 1] ?? '';
    items.set(itemId, {
      itemId,
      title,
      categories: categoriesOf(genres.split('|')),
      releasedAt: title ? releaseFromTitle(title) : null,
    });
  });
  const ratings: Rating[] = [];
  readRatingRows(path.join(dir, 'ratings.dat'), (line) => line.split('::'), ratings);
  return { ratings, items };
}

/** Column positions by header name (case-insensitive, first alias found wins). */
function columns(header: string[], file: string, wanted: Record<string, string[]>, optional: string[] = []) {
  const names = header.map((h) => h.trim().toLowerCase());
  const out: Record<string, number> = {};
  for (const [key, aliases] of Object.entries(wanted)) {
    const at = names.findIndex((n) => aliases.includes(n));
    if (at < 0 && !optional.includes(key)) {
      throw new Error(`${file}: header "${header.join(',')}" has no ${aliases.join('/')} column`);
    }
    out[key] = at;
  }
  return (key: string) => out[key] ?? -1;
}

/** ratings.csv `userId,movieId,rating,timestamp` (seconds); movies.csv `movieId,title,genres`. */
function loadMlLatest(dir: string) {
  const items = new Map<string, CatalogueItem>();
  const movieFile = path.join(dir, 'movies.csv');
  let movieCol: ((key: string) => number) | null = null;
  forEachCsvRecord(movieFile, (f, lineNo) => {
    if (!movieCol) {
      movieCol = columns(f, movieFile, { id: ['movieid'], title: ['title'], genres: ['genres'] });
      return;
    }
    const where = `${movieFile}:${lineNo}`;
    const itemId = id('m', f[movieCol('id')] ?? '', where);
    const title = (f[movieCol('title')] ?? '').trim() || null;
    items.set(itemId, {
      itemId,
      title,
      categories: categoriesOf((f[movieCol('genres')] ?? '').split('|')),
      releasedAt: title ? releaseFromTitle(title) : null,
    });
  });
  const ratings: Rating[] = [];
  const ratingFile = path.join(dir, 'ratings.csv');
  let col: ((key: string) => number) | null = null;
  forEachCsvRecord(ratingFile, (f, lineNo) => {
    if (!col) {
      col = columns(f, ratingFile, {
        user: ['userid'],
        item: ['movieid'],
        rating: ['rating'],
        timestamp: ['timestamp'],
      });
      return;
    }
    const where = `${ratingFile}:${lineNo}`;
    ratings.push({
      userId: id('u', f[col('user')] ?? '', where),
      itemId: id('m', f[col('item')] ?? '', where),
      rating: num(f[col('rating')], where, 'rating'),
      at: num(f[col('timestamp')], where, 'timestamp') * 1000,
    });
  });
  return { ratings, items };
}

/**
 * Timestamps below 1e11 are read as seconds (1e11 s is the year 5138, 1e11 ms is 1973); others
 * as ms; non-numeric values as ISO dates.
 */
function toEpochMs(raw: string | undefined, where: string): number {
  const text = (raw ?? '').trim();
  const value = text === '' ? NaN : Number(text);
  if (Number.isFinite(value)) return Math.abs(value) < 1e11 ? value * 1000 : value;
  const parsed = Date.parse(text);
  if (Number.isNaN(parsed)) throw new Error(`${where}: timestamp "${text}" is neither epoch seconds, ms nor a date`);
  return parsed;
}

/** interactions.csv `user,item[,rating],timestamp`; a missing or empty rating is an implicit 1. */
function loadInteractions(dir: string) {
  const ratings: Rating[] = [];
  const file = path.join(dir, 'interactions.csv');
  let col: ((key: string) => number) | null = null;
  forEachCsvRecord(file, (f, lineNo) => {
    if (!col) {
      col = columns(
        f,
        file,
        {
          user: ['user', 'userid', 'user_id'],
          item: ['item', 'itemid', 'item_id'],
          rating: ['rating'],
          timestamp: ['timestamp', 'time', 'ts'],
        },
        ['rating'],
      );
      return;
    }
    const where = `${file}:${lineNo}`;
    const rawRating = col('rating') >= 0 ? (f[col('rating')] ?? '').trim() : '';
    ratings.push({
      userId: id('u', f[col('user')] ?? '', where),
      itemId: id('m', f[col('item')] ?? '', where),
      rating: rawRating === '' ? 1 : num(rawRating, where, 'rating'),
      at: toEpochMs(f[col('timestamp')], where),
    });
  });
  return { ratings, items: new Map<string, CatalogueItem>() };
}

/** The same log with every user and item id prefixed, to replay it beside other traffic. */
export function prefixIds(dataset: Dataset, prefix: string): Dataset {
  return {
    name: dataset.name,
    ratings: dataset.ratings.map((r) => ({ ...r, userId: prefix + r.userId, itemId: prefix + r.itemId })),
    items: new Map([...dataset.items].map(([id, item]) => [prefix + id, { ...item, itemId: prefix + item.itemId }])),
  };
}
