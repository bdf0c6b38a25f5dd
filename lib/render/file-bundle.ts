/**
 * A node's files as one ustar archive, for the user-data of a node whose files do not fit EC2's
 * 16 KB limit even when gzip+base64 encoded one by one: compressed together they share one
 * dictionary (the boot scripts repeat each other's words) and cost one YAML entry. cloud-init
 * writes the archive (gz+b64) and runcmd unpacks it with GNU tar before it starts the boot unit.
 * Deterministic: the same files always give the same bytes (mtime 0, uid/gid 0, sorted order kept).
 */
import type { NodeFile } from "../node-file";

const BLOCK = 512;

/** A ustar archive of the files, paths relative to / (tar -C / restores them), owned by root. */
export function packFiles(files: readonly NodeFile[]): Buffer {
  const blocks: Buffer[] = [];
  for (const file of files) {
    const name = file.path.replace(/^\/+/, "");
    if (Buffer.byteLength(name) > 100) throw new Error(`file-bundle: ${file.path} is longer than ustar's 100-byte name field`);
    const content = Buffer.from(file.content, "utf8");
    const header = Buffer.alloc(BLOCK);
    header.write(name, 0, "utf8");
    header.write(octal(parseInt(file.permissions, 8), 8), 100);
    header.write(octal(0, 8), 108);
    header.write(octal(0, 8), 116);
    header.write(octal(content.length, 12), 124);
    header.write(octal(0, 12), 136);
    header.fill(" ", 148, 156);
    header.write("0", 156);
    header.write("ustar\0", 257, "binary");
    header.write("00", 263);
    header.write("root", 265);
    header.write("root", 297);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
    blocks.push(header, content, Buffer.alloc((BLOCK - (content.length % BLOCK)) % BLOCK));
  }
  blocks.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(blocks);
}

/** The files of an archive made by packFiles (for tests and the review of a bundle). */
export function unpackFiles(archive: Buffer): NodeFile[] {
  const files: NodeFile[] = [];
  for (let offset = 0; offset + BLOCK <= archive.length; ) {
    const header = archive.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) break;
    const field = (start: number, length: number) => header.subarray(start, start + length).toString("utf8").replace(/\0.*$/s, "").trim();
    const size = parseInt(field(124, 12), 8);
    const content = archive.subarray(offset + BLOCK, offset + BLOCK + size).toString("utf8");
    files.push({ path: `/${field(0, 100)}`, content, permissions: field(100, 8).slice(-4) });
    offset += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  return files;
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, "0")}\0`;
}
