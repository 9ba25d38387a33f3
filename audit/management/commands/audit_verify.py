from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.verify import CHUNK_SIZE, BrokenChain, verify_chains


class Command(BaseCommand):
    help = (
        "Verify every audit hash chain: contiguous sequences from 1, each "
        "row's prev_hash and recomputed hash, and each chain's tail against "
        "its head. Exits non-zero naming the first broken link."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=CHUNK_SIZE,
            help="Rows fetched per round trip while streaming the table.",
        )

    def handle(self, *args: object, **options: object) -> None:
        chains = rows = 0
        try:
            for summary in verify_chains(chunk_size=int(options["chunk_size"])):
                self.stdout.write(str(summary))
                chains += 1
                rows += summary.rows
        except BrokenChain as broken:
            raise CommandError(str(broken)) from broken
        self.stdout.write(
            self.style.SUCCESS(f"OK: {chains} chains, {rows} rows verified.")
        )
