import test from 'ava';
import { AlreadyExistsError } from '../../src/errors.js';
import { NameReservations } from '../../src/lifecycle/name-reservations.js';

/** Reservations whose unclaimed marks are a set the test can read. */
function markedInMemory() {
  const marked = new Set<string>();
  const reservations = new NameReservations<string>({
    mark: async (id) => void marked.add(id),
    isMarked: (id) => marked.has(id),
    clear: async (id) => void marked.delete(id),
  });
  return { reservations, marked };
}

function store() {
  const objects = new Map<string, string>();
  const { reservations } = markedInMemory();
  let made = 0;
  const create = (name: string, signal?: AbortSignal, gate?: Promise<void>) =>
    reservations.create({
      name,
      signal,
      existing: () => objects.get(name),
      describe: (id) => id,
      make: async () => {
        await gate;
        const id = `object-${++made}`;
        objects.set(name, id);
        return id;
      },
    });
  return { create, objects };
}

test('a second create of a taken name is ALREADY_EXISTS', async (t) => {
  const { create } = store();
  t.is(await create('pod'), 'object-1');
  await t.throwsAsync(create('pod'), { instanceOf: AlreadyExistsError, message: /reserved by object-1/ });
});

test('the retry of a create whose caller gave up gets the object that create made', async (t) => {
  const { create } = store();
  const caller = new AbortController();
  const first = create('pod', caller.signal);
  caller.abort();
  t.is(await first, 'object-1');
  t.is(await create('pod'), 'object-1', 'the retry is handed the finished object');
  await t.throwsAsync(create('pod'), { instanceOf: AlreadyExistsError }, 'only once');
});

test('a retry while the abandoned create still runs joins it; a concurrent live call is refused', async (t) => {
  const { create } = store();
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const caller = new AbortController();
  const first = create('pod', caller.signal, gate);
  await t.throwsAsync(create('pod'), { instanceOf: AlreadyExistsError, message: /in progress/ });
  caller.abort();
  const retry = create('pod');
  open();
  t.is(await first, 'object-1');
  t.is(await retry, 'object-1');
  await t.throwsAsync(create('pod'), { instanceOf: AlreadyExistsError });
});

test('make learns that its caller left, so it can save the object already marked', async (t) => {
  const { reservations, marked } = markedInMemory();
  const caller = new AbortController();
  let seenAtSave: boolean | undefined;
  const made = reservations.create({
    name: 'pod',
    signal: caller.signal,
    existing: () => undefined,
    describe: (id) => id,
    make: async (callerGaveUp) => {
      caller.abort();
      seenAtSave = callerGaveUp();
      // What a record store does when the object is saved marked.
      if (seenAtSave) marked.add('object-1');
      return 'object-1';
    },
  });
  t.is(await made, 'object-1');
  t.true(seenAtSave);
  t.true(marked.has('object-1'), 'the mark stays for the retry');
});

test('a retry that joins a create saved marked takes the mark off: a later call is a duplicate', async (t) => {
  const objects = new Map<string, string>();
  const { reservations, marked } = markedInMemory();
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const caller = new AbortController();
  const create = (signal?: AbortSignal) =>
    reservations.create({
      name: 'pod',
      signal,
      existing: () => objects.get('pod'),
      describe: (id) => id,
      make: async (callerGaveUp) => {
        await gate;
        objects.set('pod', 'object-1');
        if (callerGaveUp()) marked.add('object-1');
        return 'object-1';
      },
    });
  const first = create(caller.signal);
  caller.abort();
  const retry = create();
  open();
  t.is(await first, 'object-1');
  t.is(await retry, 'object-1');
  t.false(marked.has('object-1'));
  await t.throwsAsync(create(), { instanceOf: AlreadyExistsError });
});
