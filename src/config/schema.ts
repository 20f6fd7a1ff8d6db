/**
 * The cleanplate configuration schema: the single source of truth for every
 * option, its default and its documentation (`.describe()` texts are what
 * `cleanplate init-config` writes as comments).
 *
 * Paths in a config file are resolved relative to the file's folder by the
 * loader (src/config/load.ts), never here: this module is pure.
 */
import { validate as isValidCron } from 'node-cron';
import { z } from 'zod';
import { globProblem } from '../match/plates.js';

/** A duration in milliseconds, seconds or minutes is always spelled in the key name. */
const positiveInt = () => z.number().int().positive();

/**
 * A file-name glob (`*`, `?`, `[abc]`, `[!abc]`), compiled at validation with
 * the same `globToRegExp` the matchers use: a pattern that cannot be compiled
 * (`[z-a]*`) is reported with its path when the config is loaded.
 */
const glob = () =>
  z.string().superRefine((pattern, ctx) => {
    const why = globProblem(pattern);
    if (why !== undefined) ctx.addIssue({ code: 'custom', message: `"${pattern}" is not a valid glob pattern (${why})` });
  });

/** One watched share: its inbox and the output, failed and archive folders beside it. */
export const shareSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, dot, dash and underscore only')
      .describe('Short unique name of the share, used in the catalog and in emails.'),
    inbox: z.string().min(1).describe('Folder photographers drop sessions into (watched recursively).'),
    output: z.string().min(1).describe('Finished cutouts go to output/<session>/.'),
    failed: z.string().min(1).describe('Files that could not be processed go to failed/<session>/ with <name>.error.txt.'),
    archive: z.string().min(1).describe('Originals are moved to archive/<session>/ after delivery (see keepOriginals).'),
    keepOriginals: z
      .enum(['archive', 'leave'])
      .default('archive')
      .describe('archive: move delivered originals (shots and plates) to archive/; leave: keep them in the inbox.'),
    polling: z
      .boolean()
      .default(false)
      .describe('Poll the inbox instead of using inotify. Required for SMB/NFS mounts, which deliver no events.'),
    pollIntervalMs: positiveInt().default(2000).describe('Polling interval when polling is on.'),
    sessionDepth: positiveInt()
      .max(8)
      .default(1)
      .describe('A session is the folder this many levels below the inbox (1: inbox/<session>/file).'),
    notify: z
      .array(z.string().email())
      .default([])
      .describe('Extra email recipients for sessions of this share (added to notify.recipients).'),
  })
  .strict();

/** How plates are recognised and matched to shots (`plates`). */
export const platesSchema = z
  .object({
    mode: z
      .enum(['pattern', 'first-frame'])
      .default('pattern')
      .describe(
        'pattern: plates are recognised by file name; first-frame: the first file of a session to arrive complete is ' +
          'its plate (the arrival order, not the capture time: copy the plate first, and prefer pattern when files are ' +
          'copied in parallel).',
      ),
    patterns: z
      .array(glob().min(1))
      .default(['*_plate.*', 'plate*.*', '*_bg.*', 'bg_*.*'])
      .describe('Case-insensitive glob patterns on the file name that mark a plate (mode: pattern).'),
    waitTimeoutMin: z
      .number()
      .positive()
      .default(240)
      .describe('A shot with no plate in its session fails after this many minutes.'),
    captureTime: z
      .enum(['exif-then-mtime', 'mtime'])
      .default('exif-then-mtime')
      .describe('How capture time is read to pick the latest plate taken before each shot.'),
  })
  .strict();

/** How the inboxes are watched and when a file counts as completely copied (`watch`). */
export const watchSchema = z
  .object({
    stableMs: positiveInt()
      .default(2000)
      .describe('A file is taken only when its size and mtime have not changed for this long (and it decodes).'),
    incompleteTimeoutMin: z
      .number()
      .positive()
      .default(30)
      .describe('A file that stays undecodable (a cancelled copy) this long is moved to failed/ as incomplete.'),
    extensions: z
      .array(z.string().regex(/^\.[a-z0-9]+$/))
      .default(['.jpg', '.jpeg', '.png', '.tif', '.tiff', '.webp'])
      .describe('File extensions (lower case) that are images to process; others are ignored.'),
    ignore: z
      .array(glob())
      .default([])
      .describe('Extra glob patterns on the file name to ignore (temporary and system files are always ignored).'),
  })
  .strict();

/** Render workers and retries (`jobs`). */
export const jobsSchema = z
  .object({
    concurrency: positiveInt().max(16).default(1).describe('Shots matted at the same time.'),
    maxAttempts: positiveInt().max(20).default(3).describe('Attempts per job before it fails for good.'),
    retryBackoffSec: z
      .number()
      .nonnegative()
      .default(30)
      .describe('Delay before the first retry; doubled for each further attempt.'),
    timeoutSec: z
      .number()
      .positive()
      .default(600)
      .describe(
        'Longest one shot may take to matte (decode, engine, post-process, encode), in seconds. A render that takes ' +
          'longer is stopped: its worker is replaced and the job is retried like any retryable error (up to ' +
          'maxAttempts). The default leaves ample room for 30 MP frames on slow CPUs; a change applies to the next render.',
      ),
  })
  .strict();

/** Input limits that protect the daemon from oversized files (`limits`). */
export const limitsSchema = z
  .object({
    maxPixels: positiveInt()
      .default(250_000_000)
      .describe('Images with more pixels are refused (decompression-bomb guard).'),
  })
  .strict();

/** Settings of the classical engine (`engine.classical`), also used for plate alignment in front of the neural engine. */
export const classicalSchema = z
  .object({
    align: z
      .enum(['auto', 'homography', 'off'])
      .default('auto')
      .describe('Plate alignment: auto (features + RANSAC, skipped when the camera did not move), homography (always), off.'),
    matchColour: z.boolean().default(true).describe('Match plate exposure and white balance to the shot before keying.'),
    lowSigma: z.number().positive().default(3).describe('Differences below lowSigma x noise are background.'),
    highSigma: z.number().positive().default(5).describe('Differences above highSigma x noise are foreground (5: best mean MSE on `cleanplate eval`, docs/benchmarks.md).'),
    shadowSuppression: z
      .boolean()
      .default(true)
      .describe('Treat pure darkening of the plate with unchanged chroma as shadow (background).'),
    guidedRadius: positiveInt().max(64).default(8).describe('Guided-filter radius (pixels at 1000 px long side).'),
    guidedEps: z.number().positive().default(1e-4).describe('Guided-filter regularisation.'),
    mismatchWarn: z
      .number()
      .min(0)
      .max(1)
      .default(0.6)
      .describe('Warn that the plate does not match when more than this fraction of the frame differs.'),
  })
  .strict()
  .refine((c) => c.highSigma > c.lowSigma, { message: 'highSigma must be larger than lowSigma', path: ['highSigma'] });

/** Settings of the neural engine (`engine.neural`): model folder, execution provider, base size, refinement. */
export const neuralSchema = z
  .object({
    modelDir: z.string().default('models/cleanplate-bgm').describe('Folder holding base.onnx, refiner.onnx and model.json; a relative path is looked up beside the config file, then in the cleanplate install (the shipped model).'),
    executionProvider: z
      .enum(['auto', 'cpu', 'cuda'])
      .default('auto')
      .describe('auto: CUDA when onnxruntime-node has it (logged), else CPU; cuda: fail at start-up without it.'),
    baseLongSide: positiveInt()
      .min(128)
      .max(2048)
      .default(640)
      .describe(
        'Long side the base network sees (smaller images are not enlarged). With flipAverage, 640 scored ' +
          'clearly better than 512 on `cleanplate eval` and about as well as 768, which costs ~0.3 s more at ' +
          '30 MP on 2 CPU cores (docs/benchmarks.md).',
      ),
    flipAverage: z
      .boolean()
      .default(true)
      .describe(
        'Also run the base network on the mirrored shot and plate and average the two predictions (test-time ' +
          'augmentation): one more base run, lower error in every comparison measured (docs/benchmarks.md).',
      ),
    guided: z
      .object({
        radius: z
          .number()
          .int()
          .min(0)
          .max(64)
          .default(20)
          .describe(
            'Guided upsampling of the coarse alpha (0: off, plain bilinear): a fast guided filter solves alpha as a ' +
              'local linear function of shot minus plate at the base resolution, in windows of this radius (base-' +
              'resolution pixels), and applies it at full resolution inside the coarse transition band, so edges, ' +
              'holes and strands follow the shot instead of the upsampling blur; refined patches are written over ' +
              'it. ~0.4 s at 30 MP on 2 CPU cores (docs/benchmarks.md, "Guided upsampling").',
          ),
        eps: z
          .number()
          .positive()
          .max(1)
          .default(1e-4)
          .describe('Regularisation of the guided filter (colour variance, 0..1 scale): larger keeps more of the bilinear alpha.'),
      })
      .strict()
      .prefault({}),
    refine: z
      .object({
        mode: z
          .enum(['budget', 'threshold'])
          .default('budget')
          .describe('budget: refine the worst patches up to pixelBudget; threshold: every patch whose error exceeds threshold.'),
        pixelBudget: z
          .number()
          .min(0)
          .max(1)
          .default(0.15)
          .describe(
            'Fraction of full-resolution pixels the refiner may recompute (mode: budget), up to maxPatches. ' +
              'Time grows with the patch count: about 0.3 s per 1000 patches on 2 CPU cores; at 30 MP maxPatches ' +
              'is reached first (docs/benchmarks.md).',
          ),
        threshold: z.number().min(0).max(1).default(0.1).describe('Error-map threshold (mode: threshold).'),
        maxPatches: z
          .number()
          .int()
          .min(0)
          .default(1024)
          .describe(
            'Most 8x8 patches selected per image, in either mode (0: no cap); the largest predicted errors win; growing ' +
              '(grow) may add up to grow.maxPatches more. ' +
              'Bounds the refiner time at large sizes: 1024 patches take about 0.3 s on 2 CPU cores (docs/benchmarks.md).',
          ),
        grow: z
          .object({
            rounds: z
              .number()
              .int()
              .min(0)
              .max(16)
              .default(2)
              .describe(
                'Rounds of growing the refined area (0: off): after each refiner pass, the unrefined neighbours of ' +
                  'every patch the refiner changed by more than minChange are refined too. The coarse alpha around ' +
                  'a corrected patch is likely wrong as well, and a corrected patch beside an uncorrected one is a seam.',
              ),
            minChange: z
              .number()
              .min(0)
              .max(1)
              .default(0.05)
              .describe('Mean absolute alpha change (0..1) of a refined patch that makes its neighbours refined in the next round.'),
            maxPatches: z
              .number()
              .int()
              .min(0)
              .default(1024)
              .describe(
                'Most patches added by growing, over all rounds, on top of refine.maxPatches (0: no growing); the neighbours ' +
                  'of the most changed patches come first.',
              ),
          })
          .strict()
          .prefault({})
          .describe('Growing the refined area from the patches the refiner corrected (docs/benchmarks.md, "Refiner growing").'),
      })
      .strict()
      .prefault({}),
    threads: z.number().int().min(0).default(0).describe('CPU threads for inference (0: one per core).'),
  })
  .strict();

/** Which engine mattes (`engine.name`) and the settings of each. */
export const engineSchema = z
  .object({
    name: z
      .enum(['neural', 'classical'])
      .default('classical')
      .describe(
        'Matting engine used by the daemon and `matte`. classical is the default until the neural model beats it on `cleanplate eval` (docs/benchmarks.md); neural is already better on ghost-mannequin garments.',
      ),
    classical: classicalSchema.prefault({}),
    neural: neuralSchema.prefault({}),
  })
  .strict();

/** Post-processing after the engine (`postprocess`): islands, holes, decontamination, feather. */
export const postprocessSchema = z
  .object({
    minIslandFraction: z
      .number()
      .min(0)
      .max(0.5)
      .default(0)
      .describe(
        'Foreground islands smaller than this fraction of the image are removed (0: off). Off by default: it ' +
          'removed real fringe strands, knit fuzz and small parts of objects (docs/benchmarks.md, post-processing).',
      ),
    maxHoleFraction: z
      .number()
      .min(0)
      .max(0.5)
      .default(0)
      .describe(
        'Holes in the foreground smaller than this fraction of the image are filled (0: off). Off by default: it ' +
          'closed lace holes and the gaps of meshes and foliage (docs/benchmarks.md, post-processing).',
      ),
    decontaminate: z.boolean().default(true).describe('Remove plate colour from semi-transparent edge pixels.'),
    featherPx: z.number().min(0).max(50).default(0).describe('Gaussian feather of the alpha edge, in pixels (0: off).'),
  })
  .strict();

const hexColour = z.string().regex(/^#[0-9a-fA-F]{6}$/, 'a colour like #ffffff');

/** What is delivered per shot (`outputs`). */
export const outputsSchema = z
  .object({
    rgbaPng: z.boolean().default(true).describe('<name>.png: 8-bit RGBA cutout.'),
    tiff16: z.boolean().default(false).describe('<name>.tif: 16-bit RGBA TIFF, deflate-compressed.'),
    webp: z.boolean().default(false).describe('<name>.webp: lossless WebP with alpha.'),
    alphaPng: z.boolean().default(false).describe('<name>.alpha.png: 8-bit grey alpha matte.'),
    composite: z
      .object({
        enabled: z.boolean().default(false).describe('<name>.composite.png: cutout flattened on a colour.'),
        background: hexColour.default('#ffffff').describe('Colour of the composite background.'),
      })
      .strict()
      .prefault({}),
    sidecar: z.boolean().default(true).describe('<name>.json: engine, settings, alignment, warnings, timings.'),
  })
  .strict()
  .refine((o) => o.rgbaPng || o.tiff16 || o.webp || o.alphaPng || o.composite.enabled, {
    message: 'at least one image output must be enabled',
  });

/** Log level, folder and rotation (`logging`). */
export const loggingSchema = z
  .object({
    level: z.enum(['error', 'warn', 'info', 'debug']).default('info').describe('Lowest level written.'),
    dir: z.string().default('var/log').describe('Folder of the rotating JSON-lines log files.'),
    maxSize: z.string().regex(/^\d+[kmg]?$/).default('20m').describe('Rotate a log file at this size (k/m/g).'),
    maxFiles: positiveInt().default(14).describe('Rotated log files kept.'),
    console: z.boolean().default(true).describe('Also log readable lines to the console.'),
  })
  .strict();

/** SMTP server for `notify.transport: smtp` (`notify.smtp`). */
export const smtpSchema = z
  .object({
    host: z.string().min(1).describe('SMTP server host.'),
    port: positiveInt().max(65535).default(587).describe('SMTP server port.'),
    secure: z.boolean().default(false).describe('TLS from the start (port 465); otherwise STARTTLS when offered.'),
    requireTLS: z.boolean().default(false).describe('Refuse to send without STARTTLS.'),
    user: z.string().optional().describe('SMTP user name (no auth when absent).'),
    passwordEnv: z
      .string()
      .optional()
      .describe('Name of the environment variable that holds the SMTP password (never the password itself).'),
    rejectUnauthorized: z.boolean().default(true).describe('Verify the server certificate.'),
  })
  .strict();

/** Email notifications (`notify`): transport, recipients, what is sent. */
export const notifySchema = z
  .object({
    enabled: z.boolean().default(false).describe('Send emails.'),
    transport: z
      .enum(['smtp', 'file'])
      .default('smtp')
      .describe('smtp: send through notify.smtp; file: write .eml files into notify.fileDir (demo, testing).'),
    smtp: smtpSchema.optional(),
    fileDir: z.string().default('var/mail').describe('Folder for .eml files (transport: file).'),
    from: z.string().default('cleanplate <cleanplate@localhost>').describe('Sender address.'),
    recipients: z.array(z.string().email()).default([]).describe('Recipients of every email.'),
    sessionRecipients: z
      .array(
        z
          .object({
            pattern: glob().min(1).describe('Glob on the session name.'),
            to: z.array(z.string().email()).min(1),
          })
          .strict(),
      )
      .default([])
      .describe('Extra recipients for sessions whose name matches a pattern.'),
    sessionQuietMin: z
      .number()
      .positive()
      .default(10)
      .describe('A session is complete when all its shots are done or failed and nothing arrived for this long.'),
    failureAlert: z
      .object({
        enabled: z.boolean().default(true),
        minIntervalMin: z.number().positive().default(30).describe('At most one failure alert per this many minutes; failures in between are grouped.'),
      })
      .strict()
      .prefault({}),
    contactSheet: z
      .object({
        enabled: z.boolean().default(true),
        thumbPx: positiveInt().max(1024).default(240).describe('Long side of each thumbnail.'),
        maxItems: positiveInt().max(200).default(48),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .refine((n) => !(n.enabled && n.transport === 'smtp' && !n.smtp), {
    message: 'notify.smtp is required when notify is enabled with transport smtp',
    path: ['smtp'],
  });

/** Cron expressions (node-cron syntax, 5 or 6 fields); null turns a task off. */
const cron = z.string().refine((s) => isValidCron(s), 'not a valid cron expression (node-cron: 5 or 6 fields)').nullable();

/** Cron schedules of the upkeep tasks (`schedule`); null turns a task off. */
export const scheduleSchema = z
  .object({
    digest: cron.default('0 18 * * *').describe('Daily digest email.'),
    retention: cron.default('30 3 * * *').describe('Retention run (deletes only what retention enables).'),
    waitingSweep: cron.default('*/5 * * * *').describe('Fail shots that waited longer than plates.waitTimeoutMin.'),
    rescan: cron.default('*/1 * * * *').describe('Extra full rescan of inboxes (network shares miss events).'),
    heartbeat: cron.default('*/15 * * * *').describe('Heartbeat line in the log.'),
  })
  .strict();

/** How long archived originals, delivered outputs and finished catalog records are kept (`retention`; null: forever). */
export const retentionSchema = z
  .object({
    archiveDays: z.number().positive().nullable().default(null).describe('Delete archived originals older than this (null: never).'),
    outputDays: z.number().positive().nullable().default(null).describe('Delete delivered outputs older than this (null: never).'),
    catalogDays: z.number().positive().nullable().default(null).describe('Delete finished catalog rows older than this (null: never).'),
  })
  .strict();

/** The whole config file; `configSchema.parse(yaml)` gives a {@link Config} with every default filled in. */
export const configSchema = z
  .object({
    catalog: z
      .object({
        path: z.string().default('var/cleanplate.db').describe('SQLite catalog file; must be on a local disk (WAL).'),
      })
      .strict()
      .prefault({}),
    shares: z
      .array(shareSchema)
      .min(1, 'at least one share is required')
      .refine((s) => new Set(s.map((x) => x.name)).size === s.length, 'share names must be unique'),
    watch: watchSchema.prefault({}),
    plates: platesSchema.prefault({}),
    jobs: jobsSchema.prefault({}),
    limits: limitsSchema.prefault({}),
    engine: engineSchema.prefault({}),
    postprocess: postprocessSchema.prefault({}),
    outputs: outputsSchema.prefault({}),
    logging: loggingSchema.prefault({}),
    notify: notifySchema.prefault({}),
    schedule: scheduleSchema.prefault({}),
    retention: retentionSchema.prefault({}),
  })
  .strict();

/** A validated config with every default filled in. */
export type Config = z.output<typeof configSchema>;
/** What a config file may contain (defaults optional). */
export type ConfigInput = z.input<typeof configSchema>;
/** One share of {@link Config}. */
export type ShareConfig = Config['shares'][number];
/** `engine` of {@link Config}. */
export type EngineConfig = Config['engine'];
/** `engine.classical` of {@link Config}. */
export type ClassicalConfig = EngineConfig['classical'];
/** `engine.neural` of {@link Config}. */
export type NeuralConfig = EngineConfig['neural'];
/** `postprocess` of {@link Config}. */
export type PostprocessConfig = Config['postprocess'];
/** `outputs` of {@link Config}. */
export type OutputsConfig = Config['outputs'];
/** `notify` of {@link Config}. */
export type NotifyConfig = Config['notify'];
