import { InvalidArgumentError } from '../errors.js';
import type { ImageManager } from '../image/image-manager.js';
import { imageUser } from '../image/image-manager.js';
import type { ImageRecord } from '../image/image-store.js';
import type { Puller } from '../image/puller.js';
import type { ImageServiceHandlers } from '../generated/runtime/v1/ImageService.js';
import type { Image } from '../generated/runtime/v1/Image.js';
import type { ImageFilter__Output } from '../generated/runtime/v1/ImageFilter.js';
import { sendInChunks } from './list-stream.js';
import type { ServiceRpcs } from './services.js';
import { unixNanos } from '../unix-nanos.js';

export interface ImageRpcDeps {
  readonly images: ImageManager;
  readonly puller: Puller;
}

/** The CRI ImageService: thin translations to and from the image manager and the puller. */
export function imageRpcs(deps: ImageRpcDeps): ServiceRpcs<ImageServiceHandlers> {
  const { images, puller } = deps;

  const toCri = (image: ImageRecord): Image => {
    const user = imageUser(image.user);
    return {
      id: image.id,
      repoTags: [...image.repoTags],
      repoDigests: [...image.repoDigests],
      size: String(image.size),
      uid: user.uid === null ? null : { value: String(user.uid) },
      username: user.username,
      spec: { image: image.id, annotations: {} },
      pinned: images.isPinned(image),
    };
  };

  const list = (filter: ImageFilter__Output | null): Image[] => images.list(filter?.image?.image ?? null).map(toCri);

  return {
    /**
     * The returned ref is the image ID, the same string ImageStatus, ListImages and containers report.
     * A caller that cancels or lets its deadline pass takes its share of the pull with it.
     */
    async PullImage(request, context) {
      const image = await puller.pull(requireImageName(request.image?.image), request.auth, context.signal);
      return { imageRef: image.id };
    },

    async ListImages(request) {
      return { images: list(request.filter) };
    },

    async StreamImages(request, sink) {
      await sendInChunks(list(request.filter), sink, (chunk) => ({ images: chunk }));
    },

    /** A missing image is an answer without `image`, not an error: the kubelet asks before every pull. */
    async ImageStatus(request) {
      const name = requireImageName(request.image?.image);
      const image = images.find(name);
      if (!image) return { image: null, info: {} };
      const info: Record<string, string> = request.verbose
        ? {
            info: JSON.stringify({
              imageSpec: JSON.parse((await images.configBytes(image)).toString('utf8')) as unknown,
              chainIds: image.layers,
              pulledAt: image.pulledAt,
            }),
          }
        : {};
      return { image: toCri(image), info };
    },

    /** Removing an image that is not there succeeds, as CRI requires. */
    async RemoveImage(request) {
      await images.remove(requireImageName(request.image?.image));
      return {};
    },

    async ImageFsInfo() {
      const usage = images.fsUsage();
      return {
        imageFilesystems: [
          {
            timestamp: unixNanos(),
            fsId: { mountpoint: usage.mountpoint },
            usedBytes: { value: String(usage.bytes) },
            inodesUsed: { value: String(usage.inodes) },
          },
        ],
        containerFilesystems: [],
      };
    },
  };
}

function requireImageName(name: string | undefined): string {
  if (!name) throw new InvalidArgumentError('ImageSpec.image must name an image');
  return name;
}
