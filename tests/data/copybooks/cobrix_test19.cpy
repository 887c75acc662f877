      ******************************************************************
      * COBRIX-TEST19: display numbers holding spaces and letters,
      * 80-byte records.
      *
      * Written by hand for this project (tests/unit/test_realdata.py).
      * It is NOT cobrix's copybook and copies none of it: the entries
      * were worked out from cobrix's public layout table (field names,
      * start, end, length: test19_layout.txt, no PICs), from the bytes
      * of data.dat and from the values cobrix expects (test19.txt),
      * all in shared/realdata/cobrix/test19 (AbsaOSS/cobrix,
      * Apache-2.0, copyright 2018 ABSA Group Limited). Data names use
      * '-' where the table has '_'.
      *
      * WS-AMOUNT-FRACTION2 holds "789.09" left-justified in 11 bytes.
      * Z(7)9.99 is the picture a COBOL program would print such an
      * amount with (it right-justifies it: "     789.09"); the test's
      * exception table says how the left-justified text reads.
      ******************************************************************
       01  WS-INPUT-RECORD.
           05  WS-DATE-NUM             PIC 9(8).
           05  FILLER                  PIC X.
           05  WS-DATE-ALPHA           PIC X(10).
           05  FILLER                  PIC X.
           05  WS-ACCT-ALPHA           PIC X(8).
           05  FILLER                  PIC X.
           05  WS-AMOUNT-NUMERIC       PIC 9(10).
           05  FILLER                  PIC X.
           05  WS-AMOUNT-FRACTION      PIC 9(8)V99.
           05  FILLER                  PIC X.
           05  WS-NAME-ALPHABET        PIC A(10).
           05  FILLER                  PIC X.
           05  WS-AMOUNT-FRACTION2     PIC Z(7)9.99.
           05  FILLER                  PIC X(7).
