000100*----------------------------------------------------------------*
000200* CLAIM-RECORD: one benefit claim as the legacy claim system      *
000300* exports it (LRECL 240, RECFM FB). Dates are text MM/DD/YYYY;    *
000400* amounts are zoned decimal with the sign overpunched.            *
000500*----------------------------------------------------------------*
000600 01  CLAIM-RECORD.                                                CLAIMREC
000700     05  CLM-NO                  PIC X(12).                       CLAIMREC
000800     05  POLICY-NO               PIC X(10).                       CLAIMREC
000900     05  CLAIMANT.                                                CLAIMREC
001000         10  CLMT-SSN            PIC X(11).                       CLAIMREC
001100         10  CLMT-NAME.                                           CLAIMREC
001200             15  CLMT-LAST-NAME  PIC X(35).                       CLAIMREC
001300             15  CLMT-FIRST-NAME PIC X(25).                       CLAIMREC
001400         10  CLMT-DOB            PIC X(10).                       CLAIMREC
001500         10  REL-TO-INSURED      PIC X(2).                        CLAIMREC
001600             88  REL-SELF                  VALUE 'EE'.            CLAIMREC
001700             88  REL-SPOUSE                VALUE 'SP'.            CLAIMREC
001800             88  REL-CHILD                 VALUE 'CH'.            CLAIMREC
001900     05  CLAIM-TYPE              PIC X(6).                        CLAIMREC
002000     05  CLAIM-DATES.                                             CLAIMREC
002100         10  INCIDENT-DT         PIC X(10).                       CLAIMREC
002200         10  REPORTED-DT         PIC X(10).                       CLAIMREC
002300     05  DIAG-CD                 PIC X(8).                        CLAIMREC
002400     05  AMOUNTS.                                                 CLAIMREC
002500         10  CLAIMED-AMT         PIC S9(7)V99.                    CLAIMREC
002600         10  PAID-AMT            PIC S9(7)V99.                    CLAIMREC
002700     05  CLAIM-STATUS            PIC X(4).                        CLAIMREC
002800     05  PROVIDER.                                                CLAIMREC
002900         10  PROVIDER-NAME       PIC X(50).                       CLAIMREC
003000         10  PROVIDER-NPI        PIC X(10).                       CLAIMREC
003100     05  FILLER                  PIC X(19).                       CLAIMREC
