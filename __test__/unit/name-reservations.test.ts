import test from 'ava';
import { AlreadyExistsError } from '../../src/errors.js';
import { NameReservations } from '../../src/lifecycle/name-reservations.js';

function store() {
  const objects = new Map<string, string>();
  const marked = new Set<string>();
  const reservations = new NameReservations<string>({
    mark: async (id) => void marked.add(id),
    isMarked: (id) => marked.has(id),
    clear: async (id) => void marked.delete(id),
  });
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
