// `flowvis import <file>`: loads an IPFIX file or a pcap of IPFIX (UDP or TCP) into the store,
// with a progress bar on stderr.
import { Command } from 'commander';
import { importFile, type ImportProgress } from '../store/import.js';
import { openRepository } from '../store/repository.js';
import { StoreError } from '../store/errors.js';

function mb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`;
}

/** A progress bar on a TTY (redrawn at most every 100 ms); a line per 10% otherwise. */
export function progressBar(stream: NodeJS.WriteStream = process.stderr): (p: ImportProgress) => void {
  let lastDraw = 0;
  let lastTenth = -1;
  let lastRecords = -1;
  return (p) => {
    const fraction = p.totalBytes > 0 ? Math.min(1, p.bytesRead / p.totalBytes) : 1;
    if (stream.isTTY) {
      const now = Date.now();
      if (now - lastDraw < 100 && fraction < 1) return;
      lastDraw = now;
      const width = 30;
      const filled = Math.round(fraction * width);
      stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${mb(p.bytesRead)}/${mb(p.totalBytes)} ${p.records} records${fraction >= 1 ? '\n' : ''}`);
    } else {
      const tenth = Math.floor(fraction * 10);
      if (tenth === lastTenth && !(fraction >= 1 && p.records !== lastRecords)) return;
      lastTenth = tenth;
      lastRecords = p.records;
      stream.write(`import: ${tenth * 10}% ${mb(p.bytesRead)}/${mb(p.totalBytes)} ${p.records} records\n`);
    }
  };
}

export function importCommand(): Command {
  return new Command('import')
    .description('Load an IPFIX file (messages back to back) or a pcap of IPFIX over UDP or TCP into the store.')
    .argument('<file>', 'an .ipfix file or a .pcap capture (pcapng: convert with editcap -F pcap)')
    .option('--store <dir|clickhouse-url>', 'the store: a directory (embedded) or http://host:8123/database (ClickHouse)')
    .option('--no-progress', 'no progress bar')
    .action(async (file: string, opts: { store?: string; progress: boolean }) => {
      if (!opts.store) throw new StoreError('STORE_ERR_INVALID_OPTION', 'say which store to load into: --store <dir> or --store http://host:8123/database');
      const repo = await openRepository(opts.store);
      try {
        const stats = await importFile(file, repo, opts.progress ? { onProgress: progressBar() } : {});
        process.stderr.write(
          `imported ${stats.records} flow records from ${stats.messages} IPFIX messages (${stats.format}` +
            (stats.format === 'pcap' ? `, ${stats.packets} packets, ${stats.otherPackets} not IPFIX, ${stats.tcpGaps} TCP gaps, ${stats.unreadPackets} TCP packets unread after a bad message` : '') +
            `); ${stats.recordsWithoutTemplate} records without template, ${stats.skippedRecords} non-flow records, ${stats.badMessages} bad messages\n`,
        );
      } finally {
        await repo.close();
      }
    });
}
